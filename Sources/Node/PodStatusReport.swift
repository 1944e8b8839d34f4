// A pod's status as the agent reports it: phase, conditions and one entry per container from
// what the runtime has (only changes are sent, as a merge patch of status).
import API
import Client
import Foundation
import Runtime

extension PodSync {
    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func report(_ pod: JSONValue, uid: String, name: String, namespace: String, instances: [Instance],
                waiting: [String: (String, String)], initState: InitState) {
        let spec = Pod(json: pod).spec
        let restartPolicy = spec.restartPolicy?.rawValue ?? "Always"
        // (The written string as it is: the view's Date would reformat it.)
        let startTime = pod["status"]?["startTime"]?.stringValue ?? Timestamps.now()
        var initStatuses: [JSONValue] = []
        var initCounts = StateCounts()
        for c in spec.initContainers {
            initStatuses.append(containerStatus(c, instances: instances, waiting: waiting, counts: &initCounts))
        }
        var statuses: [JSONValue] = []
        var counts = StateCounts()
        for c in spec.containers {
            statuses.append(containerStatus(c, instances: instances, waiting: waiting, counts: &counts))
        }
        let (running, succeeded, failed, waitingCount) = (counts.running, counts.succeeded, counts.failed, counts.waiting)
        let total = statuses.count
        var phase = "Pending"
        if initState == .done {
            if running > 0 || (waitingCount > 0 && (succeeded + failed) > 0) { phase = "Running" }
            if waitingCount == 0 && running == 0 && total > 0 {
                if restartPolicy == "Never" || (restartPolicy == "OnFailure" && failed == 0) {
                    phase = failed > 0 ? "Failed" : "Succeeded"
                } else {
                    phase = "Running"
                }
            }
        } else if initState == .failed {
            phase = "Failed"
        }
        let ready = initState == .done && counts.ready == total && total > 0
        func cond(_ type: String, _ ok: Bool, _ reason: String? = nil) -> JSONValue {
            var c: JSONValue = ["type": .string(type), "status": ok ? "True" : "False", "lastProbeTime": .null,
                                "lastTransitionTime": .string(startTime)]
            if !ok, let reason { c["reason"] = .string(reason) }
            return c
        }
        let podIP = PodNetwork.podIP(pod)
        var status: JSONValue = [
            "phase": .string(phase),
            "conditions": [cond("PodReadyToStartContainers", true), cond("Initialized", initState == .done, "ContainersNotInitialized"),
                           cond("Ready", ready, "ContainersNotReady"), cond("ContainersReady", ready, "ContainersNotReady"),
                           cond("PodScheduled", true)],
            "hostIP": .string(NodeInfo.hostIP()), "hostIPs": [["ip": .string(NodeInfo.hostIP())]],
            "startTime": .string(startTime), "containerStatuses": .array(statuses),
            "qosClass": .string(pod["status"]?["qosClass"]?.stringValue ?? PodRules.qosClass(spec.json)),
        ]
        if !initStatuses.isEmpty { status["initContainerStatuses"] = .array(initStatuses) }
        let ephemeral = ephemeralStatuses(spec, instances: instances, waiting: waiting)
        if !ephemeral.isEmpty { status.put("ephemeralContainerStatuses", .array(ephemeral)) }
        if let podIP { status["podIP"] = .string(podIP); status["podIPs"] = [["ip": .string(podIP)]] }
        if states[uid].reported == status { return }
        guard let client = api(), let podType = try? ResourceResolver.resolve("pods") else { return }
        let patch: JSONValue = ["status": status]
        if let r = try? client.request("PATCH", ResourceResolver.path(podType, namespace: namespace, name: name, subresource: "status"),
                                       body: patch.serialized(), contentType: "application/merge-patch+json"),
           (200..<300).contains(r.code) {
            // First reported Running (not a re-adopted pod the API already has Running): the pod's start is timed.
            let wasRunning = Pod(json: pod).status.phase == .running
            states.update(uid) { s in
                s.reported = status
                if phase == "Running", !s.startTimed, !wasRunning, let seen = s.firstSeen {
                    agent.metrics.podRunning(afterSeconds: Date().timeIntervalSince(seen))
                }
                if phase == "Running" { s.startTimed = true }
            }
        }
    }

    struct StateCounts { var running = 0, ready = 0, succeeded = 0, failed = 0, waiting = 0 }

    /// One containerStatuses entry. Kept out of report()'s loop (and not inlined into it): the
    /// release optimizer spent minutes on loop-invariant code motion over the inlined literals.
    @inline(never)
    func containerStatus(_ container: Container, instances: [Instance], waiting: [String: (String, String)], counts: inout StateCounts) -> JSONValue {
        let cname = container.name ?? ""
        let attempts = instances.filter { $0.name.container == cname }.sorted { $0.name.attempt < $1.name.attempt }
        var status = ContainerStatus()
        status.name = cname
        status.image = container.image ?? ""
        status.imageID = attempts.last.map { Self.imageID($0.record) } ?? ""
        status.restartCount = Int64(attempts.last?.name.attempt ?? 0)
        status.ready = false
        status.started = false
        if let latest = attempts.last { status.containerID = "skiff://" + latest.record.id }
        if let w = waiting[cname] {
            status.state = waitingState(w.0, w.1)
            counts.waiting += 1
        } else if let latest = attempts.last {
            switch latest.status {
            case .running:
                status.state = runningState(Timestamps.rfc3339(latest.record.createdAt))
                let probed = agent.probes.state(latest.record.id)
                let ready = probed?.ready ?? true
                status.ready = ready
                status.started = probed?.started ?? true
                counts.running += 1
                if ready { counts.ready += 1 }
            case .exited(let e):
                status.state = terminatedState(e)
                if e.exitCode == 0 && !e.oomKilled { counts.succeeded += 1 } else { counts.failed += 1 }
            case .created:
                status.state = waitingState("ContainerCreating", nil)
                counts.waiting += 1
            }
        } else {
            status.state = waitingState("ContainerCreating", nil)
            counts.waiting += 1
        }
        if attempts.count > 1, case .exited(let e) = attempts[attempts.count - 2].status {
            status.lastState = terminatedState(e)
        } else {
            // The kubelet writes `lastState: {}`; the view's setter leaves an empty state out.
            status.json.put("lastState", .object(JSONObject()))
        }
        return status.json
    }

    /// "docker.io/library/busybox@sha256:..." — the repository and the manifest digest it ran.
    static func imageID(_ record: ContainerRecord) -> String {
        guard let digest = record.imageDigest else { return "" }
        let repository = record.image.split(separator: "@").first.map { name -> String in
            guard let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") else { return String(name) }
            return String(name[..<colon])
        } ?? record.image
        return repository + "@" + digest
    }

    func waitingState(_ reason: String, _ message: String?) -> ContainerState {
        var w = ContainerStateWaiting()
        w.reason = reason
        w.message = message
        var state = ContainerState()
        state.waiting = w
        return state
    }

    /// (startedAt as the runtime recorded it, not through the view's Date.)
    func runningState(_ startedAt: String) -> ContainerState {
        ContainerState(json: .object(JSONObject([("running", .object(JSONObject([("startedAt", .string(startedAt))])))])))
    }

    func terminatedState(_ e: ExitRecord) -> ContainerState {
        let reason = e.oomKilled ? "OOMKilled" : (e.exitCode == 0 ? "Completed" : "Error")
        return ContainerState(json: ["terminated": ["exitCode": .int(Int64(e.exitCode)), "reason": .string(reason),
                                                    "startedAt": .string(Timestamps.rfc3339(e.startedAt)),
                                                    "finishedAt": .string(Timestamps.rfc3339(e.finishedAt))]])
    }
}
