// Reconciles the pods bound to this node with the containers the runtime has. Containers are
// named k8s_<container>_<pod>_<namespace>_<uid prefix>_<attempt>, so a restarted agent finds
// (re-adopts) everything it started: nothing is restarted or duplicated by an agent restart.
import API
import Client
import Foundation
import Images
import Registry
import Runtime
#if canImport(Glibc)
import Glibc
#endif

struct ContainerName: Equatable {
    var container: String
    var pod: String
    var namespace: String
    var uid: String      // first 8 characters of the pod's uid
    var attempt: Int

    var text: String { "k8s_\(container)_\(pod)_\(namespace)_\(uid)_\(attempt)" }

    init(container: String, pod: String, namespace: String, uid: String, attempt: Int) {
        self.container = container; self.pod = pod; self.namespace = namespace; self.uid = String(uid.prefix(8)); self.attempt = attempt
    }

    init?(parsing name: String) {
        let parts = name.split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6, parts[0] == "k8s", let attempt = Int(parts[5]) else { return nil }
        self.init(container: parts[1], pod: parts[2], namespace: parts[3], uid: parts[4], attempt: attempt)
    }
}

final class PodSync {
    let agent: NodeAgent
    var runtime: ContainerRuntime { agent.runtime }
    /// Last status written per pod uid: only changes are sent.
    var reported: [String: JSONValue] = [:]
    /// When each terminating pod's containers got SIGTERM.
    var terminationStarted: [String: Date] = [:]
    /// Image pull failures per image reference: (when, message), for back-off.
    var pullFailures: [String: (Date, String)] = [:]

    /// One keep-alive connection for status writes (the sync loop is single-threaded).
    private var cachedClient: APIClient?

    init(agent: NodeAgent) { self.agent = agent }

    func api() -> APIClient? {
        if cachedClient == nil { cachedClient = try? agent.client() }
        return cachedClient
    }

    typealias Instance = (name: ContainerName, record: ContainerRecord, status: ContainerStatus)

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func syncAll() {
        guard agent.pods.isSynced else { return }
        var byPod: [String: [Instance]] = [:]
        for (record, status) in runtime.list() {
            guard let n = ContainerName(parsing: record.name) else { continue }
            byPod[n.uid, default: []].append((n, record, status))
        }
        var live = Set<String>()
        for pod in agent.pods.all {
            guard let uid = pod["metadata"]?["uid"]?.stringValue else { continue }
            live.insert(String(uid.prefix(8)))
            sync(pod, uid: uid, instances: byPod[String(uid.prefix(8))] ?? [])
        }
        // Containers of pods no longer bound here (deleted with grace 0, or gone while we were down).
        for (uid, instances) in byPod where !live.contains(uid) {
            for i in instances { try? runtime.remove(i.record.id, force: true) }
        }
        for uid in reported.keys where !live.contains(String(uid.prefix(8))) { reported[uid] = nil }
    }

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func sync(_ pod: JSONValue, uid: String, instances: [Instance]) {
        let meta = pod["metadata"] ?? .null
        let name = meta["name"]?.stringValue ?? ""
        let namespace = meta["namespace"]?.stringValue ?? "default"
        if meta["deletionTimestamp"] != nil {
            terminate(pod, uid: uid, name: name, namespace: namespace, instances: instances)
            return
        }
        let spec = pod["spec"] ?? .null
        let restartPolicy = spec["restartPolicy"]?.stringValue ?? "Always"
        var waiting: [String: (String, String)] = [:]    // container → (reason, message)
        var started = false
        for c in spec["containers"]?.arrayValue ?? [] {
            guard let cname = c["name"]?.stringValue else { continue }
            let attempts = instances.filter { $0.name.container == cname }.sorted { $0.name.attempt < $1.name.attempt }
            guard let latest = attempts.last else {
                if let w = start(c, attempt: 0, pod: pod, uid: uid) { waiting[cname] = w } else { started = true }
                continue
            }
            guard case .exited(let exit) = latest.status else { continue }
            let failed = exit.exitCode != 0 || exit.oomKilled
            let restart = restartPolicy == "Always" || (restartPolicy == "OnFailure" && failed)
            guard restart else { continue }
            // CrashLoopBackOff: 10 s doubling to 5 min after each exit.
            let delay = min(10 * pow(2, Double(latest.name.attempt)), 300)
            let finished = Timestamps.parse(exit.finishedAt) ?? Date.distantPast
            if Date().timeIntervalSince(finished) >= delay {
                if let w = start(c, attempt: latest.name.attempt + 1, pod: pod, uid: uid) { waiting[cname] = w } else { started = true }
                // Keep the previous attempt for lastState; older ones go.
                for old in attempts.dropLast() { try? runtime.remove(old.record.id, force: true) }
            } else {
                waiting[cname] = ("CrashLoopBackOff", "back-off \(Int(delay))s restarting failed container=\(cname) pod=\(name)_\(namespace)(\(uid))")
            }
        }
        // Re-read the runtime only when this pass started something.
        report(pod, uid: uid, name: name, namespace: namespace, instances: started ? runtimeInstances(uid) : instances, waiting: waiting)
    }

    func runtimeInstances(_ uid: String) -> [Instance] {
        runtime.list().compactMap { r, s in
            guard let n = ContainerName(parsing: r.name), n.uid == String(uid.prefix(8)) else { return nil }
            return (n, r, s)
        }
    }

    /// Starts one attempt of a container; returns a waiting reason when it can't (yet).
    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func start(_ c: JSONValue, attempt: Int, pod: JSONValue, uid: String) -> (String, String)? {
        let meta = pod["metadata"] ?? .null
        let image = c["image"]?.stringValue ?? ""
        let policy = c["imagePullPolicy"]?.stringValue ?? PodRules.pullPolicyDefault(image: image)
        if let (when, message) = pullFailures[image], Date().timeIntervalSince(when) < 10 {
            return ("ImagePullBackOff", "Back-off pulling image \"\(image)\": \(message)")
        }
        let present = (try? runtime.imageStore.resolve(image)) != nil
        if policy == "Never" && !present {
            return ("ErrImageNeverPull", "Container image \"\(image)\" is not present with pull policy of Never")
        }
        if policy == "Always" || !present {
            do {
                _ = try Puller(store: runtime.imageStore, config: agent.options.registry).pull(image)
                pullFailures[image] = nil
            } catch {
                pullFailures[image] = (Date(), "\(error)")
                return ("ErrImagePull", "\(error)")
            }
        }
        let name = ContainerName(container: c["name"]?.stringValue ?? "", pod: meta["name"]?.stringValue ?? "",
                                 namespace: meta["namespace"]?.stringValue ?? "default", uid: uid, attempt: attempt)
        var spec = ContainerSpec(root: .image(image))
        spec.name = name.text
        spec.detach = true
        if let command = c["command"]?.arrayValue?.compactMap(\.stringValue), !command.isEmpty { spec.entrypoint = command }
        spec.command = c["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
        spec.env = (c["env"]?.arrayValue ?? []).compactMap { e in
            guard let k = e["name"]?.stringValue else { return nil }
            return "\(k)=\(e["value"]?.stringValue ?? "")"
        }
        spec.workingDir = c["workingDir"]?.stringValue
        spec.hostname = meta["name"]?.stringValue
        if let mem = c["resources"]?["limits"]?["memory"]?.stringValue, let q = try? Quantity(parsing: mem) { spec.memoryBytes = q.integerValue }
        if let cpu = c["resources"]?["limits"]?["cpu"]?.stringValue, let q = try? Quantity(parsing: cpu) { spec.milliCPUs = q.milliValue }
        do {
            _ = try runtime.run(spec)
            return nil
        } catch {
            return ("CreateContainerError", "\(error)")
        }
    }

    /// Graceful termination: SIGTERM, SIGKILL after the grace period, remove, confirm to the API.
    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func terminate(_ pod: JSONValue, uid: String, name: String, namespace: String, instances: [Instance]) {
        let grace = pod["metadata"]?["deletionGracePeriodSeconds"]?.intValue ?? pod["spec"]?["terminationGracePeriodSeconds"]?.intValue ?? 30
        let running = instances.filter { if case .running = $0.status { return true }; return false }
        if !running.isEmpty {
            let started = terminationStarted[uid] ?? Date()
            if terminationStarted[uid] == nil {
                terminationStarted[uid] = started
                for i in running { try? runtime.kill(i.record.id, signal: SIGTERM) }
            } else if Date().timeIntervalSince(started) >= Double(grace) {
                for i in running { try? runtime.kill(i.record.id, signal: SIGKILL) }
            }
            return
        }
        for i in instances { try? runtime.remove(i.record.id, force: true) }
        terminationStarted[uid] = nil
        // Confirm: the pod may now go (grace 0, only this incarnation).
        guard let client = api(), let podType = try? ResourceResolver.resolve("pods") else { return }
        let body: JSONValue = ["kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": ["uid": .string(uid)]]
        if let r = try? client.request("DELETE", ResourceResolver.path(podType, namespace: namespace, name: name), body: body.serialized()),
           (200..<300).contains(r.code) || r.code == 404 || r.code == 409 {
            agent.pods.remove(pod)
            reported[uid] = nil
        }
    }

    // MARK: status

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func report(_ pod: JSONValue, uid: String, name: String, namespace: String, instances: [Instance], waiting: [String: (String, String)]) {
        let spec = pod["spec"] ?? .null
        let restartPolicy = spec["restartPolicy"]?.stringValue ?? "Always"
        let startTime = pod["status"]?["startTime"]?.stringValue ?? Timestamps.now()
        var statuses: [JSONValue] = []
        var counts = StateCounts()
        for c in spec["containers"]?.arrayValue ?? [] {
            statuses.append(containerStatus(c, instances: instances, waiting: waiting, counts: &counts))
        }
        let (running, succeeded, failed, waitingCount) = (counts.running, counts.succeeded, counts.failed, counts.waiting)
        let total = statuses.count
        var phase = "Pending"
        if running > 0 || (waitingCount > 0 && (succeeded + failed) > 0) { phase = "Running" }
        if waitingCount == 0 && running == 0 && total > 0 {
            if restartPolicy == "Never" || (restartPolicy == "OnFailure" && failed == 0) {
                phase = failed > 0 ? "Failed" : "Succeeded"
            } else {
                phase = "Running"
            }
        }
        let ready = running == total && total > 0
        func cond(_ type: String, _ ok: Bool) -> JSONValue {
            ["type": .string(type), "status": ok ? "True" : "False", "lastProbeTime": .null, "lastTransitionTime": .string(startTime)]
        }
        let status: JSONValue = [
            "phase": .string(phase),
            "conditions": [cond("PodReadyToStartContainers", true), cond("Initialized", true), cond("Ready", ready),
                           cond("ContainersReady", ready), cond("PodScheduled", true)],
            "hostIP": .string(NodeInfo.hostIP()), "hostIPs": [["ip": .string(NodeInfo.hostIP())]],
            "startTime": .string(startTime), "containerStatuses": .array(statuses),
        ]
        if reported[uid] == status { return }
        guard let client = api(), let podType = try? ResourceResolver.resolve("pods") else { return }
        let patch: JSONValue = ["status": status]
        if let r = try? client.request("PATCH", ResourceResolver.path(podType, namespace: namespace, name: name, subresource: "status"),
                                       body: patch.serialized(), contentType: "application/merge-patch+json"),
           (200..<300).contains(r.code) {
            reported[uid] = status
        }
    }

    struct StateCounts { var running = 0, succeeded = 0, failed = 0, waiting = 0 }

    /// One containerStatuses entry. Kept out of report()'s loop (and not inlined into it): the
    /// release optimizer spent minutes on loop-invariant code motion over the inlined literals.
    @inline(never)
    func containerStatus(_ c: JSONValue, instances: [Instance], waiting: [String: (String, String)], counts: inout StateCounts) -> JSONValue {
        let cname = c["name"]?.stringValue ?? ""
        let attempts = instances.filter { $0.name.container == cname }.sorted { $0.name.attempt < $1.name.attempt }
        var status = JSONValue.object(JSONObject())
        status["name"] = .string(cname)
        status["image"] = .string(c["image"]?.stringValue ?? "")
        status["imageID"] = .string("")
        status["restartCount"] = .int(Int64(attempts.last?.name.attempt ?? 0))
        status["ready"] = .bool(false)
        status["started"] = .bool(false)
        if let latest = attempts.last { status["containerID"] = .string("skiff://" + latest.record.id) }
        if let w = waiting[cname] {
            status["state"] = waitingState(w.0, w.1)
            counts.waiting += 1
        } else if let latest = attempts.last {
            switch latest.status {
            case .running:
                status["state"] = runningState(Timestamps.rfc3339(latest.record.createdAt))
                status["ready"] = .bool(true)
                status["started"] = .bool(true)
                counts.running += 1
            case .exited(let e):
                status["state"] = terminatedState(e)
                if e.exitCode == 0 && !e.oomKilled { counts.succeeded += 1 } else { counts.failed += 1 }
            case .created:
                status["state"] = waitingState("ContainerCreating", nil)
                counts.waiting += 1
            }
        } else {
            status["state"] = waitingState("ContainerCreating", nil)
            counts.waiting += 1
        }
        if attempts.count > 1, case .exited(let e) = attempts[attempts.count - 2].status {
            status["lastState"] = terminatedState(e)
        } else {
            status["lastState"] = .object(JSONObject())
        }
        return status
    }

    func waitingState(_ reason: String, _ message: String?) -> JSONValue {
        var w = JSONObject()
        w["reason"] = .string(reason)
        if let message { w["message"] = .string(message) }
        return .object(JSONObject([("waiting", .object(w))]))
    }

    func runningState(_ startedAt: String) -> JSONValue {
        .object(JSONObject([("running", .object(JSONObject([("startedAt", .string(startedAt))])))]))
    }

    func terminatedState(_ e: ExitRecord) -> JSONValue {
        let reason = e.oomKilled ? "OOMKilled" : (e.exitCode == 0 ? "Completed" : "Error")
        return ["terminated": ["exitCode": .int(Int64(e.exitCode)), "reason": .string(reason),
                               "startedAt": .string(Timestamps.rfc3339(e.startedAt)), "finishedAt": .string(Timestamps.rfc3339(e.finishedAt))]]
    }
}
