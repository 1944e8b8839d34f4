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
    /// When each running pod's volumes were last written (refreshed every syncFrequency).
    var volumesWritten: [String: Date] = [:]
    /// When each terminating pod's containers got SIGTERM.
    var terminationStarted: [String: Date] = [:]
    /// Claim volumes' host paths per pod uid, once mounted (ClaimVolumes); the last failure otherwise.
    var mountedClaims: [String: [String: String]] = [:]
    var claimMountFailures: [String: (at: Date, message: String, claimsBound: Int)] = [:]
    /// The labels and annotations each pod's downward API files were last written from.
    var downwardWritten: [String: DownwardSource] = [:]
    struct DownwardSource: Equatable {
        var labels: [String: String]
        var annotations: [String: String]
    }

    /// One keep-alive connection for status writes (the sync loop is single-threaded).
    private var cachedClient: APIClient?

    init(agent: NodeAgent) { self.agent = agent }

    func api() -> APIClient? {
        if cachedClient == nil { cachedClient = try? agent.client() }
        return cachedClient
    }

    /// Where volumes and environment read API objects, tokens and Services from.
    func objects() -> APIObjectSource {
        APIObjectSource(client: api(), tokens: agent.tokens, serviceLister: agent.serviceLister)
    }

    typealias Instance = (name: ContainerName, record: ContainerRecord, status: ContainerRunState)

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func syncAll() {
        // Until the first list from the API server, only static pods are known: nothing else
        // is started or cleaned up (containers of API pods are left alone while the master is away).
        let apiSynced = agent.pods.isSynced
        var pods = agent.staticPods?.all ?? []
        if apiSynced { pods += agent.pods.all.filter { !StaticPods.isMirror($0) } }
        if pods.isEmpty && !apiSynced { return }
        var byPod: [String: [Instance]] = [:]
        for (record, status) in runtime.list() {
            guard let n = ContainerName(parsing: record.name) else { continue }
            byPod[n.uid, default: []].append((n, record, status))
        }
        var live = Set<String>()
        for pod in pods {
            guard let uid = pod["metadata"]?["uid"]?.stringValue else { continue }
            live.insert(String(uid.prefix(8)))
            sync(pod, uid: uid, instances: byPod[String(uid.prefix(8))] ?? [])
        }
        guard apiSynced else { return }
        // Pods no longer bound here (deleted with grace 0, or gone while we were down): their
        // network first, while the sandbox's namespace still exists.
        let orphanDirs = FileIO.listDirectory(agent.options.rootDir + "/pods").filter { !live.contains(String($0.prefix(8))) }
        for dir in orphanDirs { agent.network.tearDown(dir) }
        for (uid, instances) in byPod where !live.contains(uid) {
            for i in instances.sorted(by: { a, _ in a.name.container != PodSandbox.containerName }) {
                try? runtime.remove(i.record.id, force: true)
            }
        }
        var runningIDs = Set<String>()
        for list in byPod.values { for i in list { if case .running = i.status { runningIDs.insert(i.record.id) } } }
        agent.probes.forget(except: runningIDs)
        for dir in orphanDirs { cleanUpPod(uid: dir) }
        for uid in reported.keys where !live.contains(String(uid.prefix(8))) { reported[uid] = nil }
        for uid in volumesWritten.keys where !live.contains(String(uid.prefix(8))) {
            volumesWritten[uid] = nil
            agent.tokens.forget(podUID: uid)
        }
        for uid in Set(mountedClaims.keys).union(claimMountFailures.keys).union(downwardWritten.keys) where !live.contains(String(uid.prefix(8))) {
            mountedClaims[uid] = nil
            claimMountFailures[uid] = nil
            downwardWritten[uid] = nil
        }
    }

    /// What one sync pass of a pod knows about its sandbox and volumes.
    final class PodContext {
        let pod: JSONValue
        let uid: String
        var sandboxPID: Int32 = 0
        var cgroupParent = ""
        var volumePaths: [String: String]?
        /// Claim volumes' host paths (mountClaims), or why they are not mounted yet.
        var claimPaths: [String: String] = [:]
        var mountFailure: String?
        init(pod: JSONValue, uid: String) { self.pod = pod; self.uid = uid }
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
        // A pod that finished (restartPolicy Never/OnFailure) keeps its state; its sandbox stops.
        let phase = reported[uid]?["phase"]?.stringValue ?? pod["status"]?["phase"]?.stringValue
        if phase == "Succeeded" || phase == "Failed" {
            for i in instances where i.name.container == PodSandbox.containerName {
                if case .running = i.status { try? runtime.kill(i.record.id, signal: SIGKILL) }
            }
            // Its address goes back to the pool (CNI DEL once; later passes find no record):
            // completed Job pods would otherwise use up the node's /24 after 254 of them.
            agent.network.tearDown(uid)
            return
        }
        let spec = pod["spec"] ?? .null
        let restartPolicy = spec["restartPolicy"]?.stringValue ?? "Always"
        let context = PodContext(pod: pod, uid: uid)
        var waiting: [String: (String, String)] = [:]    // container → (reason, message)
        var started = false
        var current = instances

        // Claims are mounted before the sandbox starts (a running pod re-adopted while they
        // can't be read keeps running).
        if !mountClaims(context) && instances.isEmpty {
            report(pod, uid: uid, name: name, namespace: namespace, instances: current, waiting: waitingForClaims(context), initState: .running)
            return
        }
        switch ensureSandbox(context, instances: instances) {
        case .ready(let restarted):
            if restarted { started = true; current = runtimeInstances(uid) }
        case .failed(let reason, let message):
            for c in (spec["initContainers"]?.arrayValue ?? []) + (spec["containers"]?.arrayValue ?? []) {
                if let n = c["name"]?.stringValue { waiting[n] = (reason, message) }
            }
            report(pod, uid: uid, name: name, namespace: namespace, instances: current, waiting: waiting, initState: .running)
            return
        }

        // Init containers, one at a time and in order; app containers only after all succeeded.
        var initState = InitState.done
        for c in spec["initContainers"]?.arrayValue ?? [] {
            guard let cname = c["name"]?.stringValue else { continue }
            let latest = attempts(of: cname, in: current).last
            guard let latest else {
                if let w = start(c, attempt: 0, context: context) { waiting[cname] = w } else { started = true }
                initState = .running
                break
            }
            guard case .exited(let exit) = latest.status else { initState = .running; break }
            if exit.exitCode == 0 && !exit.oomKilled { continue }
            if restartPolicy == "Never" { initState = .failed; break }
            initState = .running
            if restart(c, after: latest, exit: exit, context: context, instances: current, waiting: &waiting) { started = true }
            break
        }

        if initState == .done {
            for c in spec["containers"]?.arrayValue ?? [] {
                guard let cname = c["name"]?.stringValue else { continue }
                guard let latest = attempts(of: cname, in: current).last else {
                    if let w = start(c, attempt: 0, context: context) { waiting[cname] = w } else { started = true }
                    continue
                }
                if case .running = latest.status {
                    // Re-adopted containers are probed too (no postStart: it ran at their start).
                    agent.probes.track(containerID: latest.record.id, container: c, pod: pod, sandboxPID: context.sandboxPID,
                                       startedAt: Timestamps.parse(latest.record.createdAt) ?? Date(), fresh: false)
                    if let why = agent.probes.state(latest.record.id)?.unhealthy {
                        agent.events.container(pod, c, reason: "Killing", message: "Container \(cname) failed \(why), will be restarted")
                        try? runtime.kill(latest.record.id, signal: SIGKILL)
                    }
                    continue
                }
                guard case .exited(let exit) = latest.status else { continue }
                let failed = exit.exitCode != 0 || exit.oomKilled
                guard restartPolicy == "Always" || (restartPolicy == "OnFailure" && failed) else { continue }
                if restart(c, after: latest, exit: exit, context: context, instances: current, waiting: &waiting) { started = true }
            }
        }
        refreshVolumes(context, wroteNow: context.volumePaths != nil)
        // Re-read the runtime only when this pass started something.
        report(pod, uid: uid, name: name, namespace: namespace, instances: started ? runtimeInstances(uid) : current,
               waiting: waiting, initState: initState)
        if let phase = reported[uid]?["phase"]?.stringValue, phase == "Succeeded" || phase == "Failed" {
            for i in current where i.name.container == PodSandbox.containerName { try? runtime.kill(i.record.id, signal: SIGKILL) }
        }
    }

    enum InitState { case running, done, failed }

    /// ConfigMap, Secret and downward API volumes follow their sources, like the kubelet's
    /// periodic sync: rewritten (only when changed) every syncFrequency.
    /// Downward API files follow the pod's labels and annotations at once (the pod update is the
    /// signal, as the kubelet remounts on it).
    func refreshVolumes(_ context: PodContext, wroteNow: Bool) {
        let kinds = ["configMap", "secret", "downwardAPI", "projected"]
        guard (context.pod["spec"]?["volumes"]?.arrayValue ?? []).contains(where: { v in kinds.contains { v[$0] != nil } }) else { return }
        let meta = Pod(json: context.pod).metadata
        let downward = DownwardSource(labels: meta.labels ?? [:], annotations: meta.annotations ?? [:])
        if wroteNow { volumesWritten[context.uid] = Date(); downwardWritten[context.uid] = downward; return }
        let metadataChanged = downwardWritten[context.uid].map { $0 != downward } ?? false
        if !metadataChanged, let last = volumesWritten[context.uid], Date().timeIntervalSince(last) < agent.options.syncFrequency { return }
        volumesWritten[context.uid] = Date()
        downwardWritten[context.uid] = downward
        let volumes = PodVolumes(rootDir: agent.options.rootDir, uid: context.uid, pod: context.pod, objects: objects(),
                                 claimPaths: mountedClaims[context.uid] ?? [:])
        do { _ = try volumes.setUp(nodeAllocatable: agent.allocatable) } catch { agent.log("refreshing volumes of pod \(context.uid): \(error)") }
    }

    /// Starts the next attempt of an exited container once its back-off allows (else records
    /// CrashLoopBackOff); true when one was started.
    func restart(_ c: JSONValue, after latest: Instance, exit: ExitRecord, context: PodContext, instances: [Instance],
                 waiting: inout [String: (String, String)]) -> Bool {
        let meta = context.pod["metadata"] ?? .null
        let name = meta["name"]?.stringValue ?? "", namespace = meta["namespace"]?.stringValue ?? ""
        let cname = latest.name.container
        switch restartDecision(latest, exit: exit, container: cname, pod: name, namespace: namespace, uid: context.uid) {
        case .now:
            pruneAttempts(of: cname, in: instances)
            if let w = start(c, attempt: latest.name.attempt + 1, context: context) { waiting[cname] = w; return false }
            return true
        case .wait(let reason):
            waiting[cname] = reason
            agent.events.container(context.pod, c, type: "Warning", reason: "BackOff",
                                   message: "Back-off restarting failed container \(cname) in pod \(name)_\(namespace)(\(context.uid))")
            return false
        }
    }

    func attempts(of container: String, in instances: [Instance]) -> [Instance] {
        instances.filter { $0.name.container == container }.sorted { $0.name.attempt < $1.name.attempt }
    }

    /// Keeps the newest two attempts (the running one and the previous, for lastState).
    func pruneAttempts(of container: String, in instances: [Instance]) {
        for old in attempts(of: container, in: instances).dropLast() { try? runtime.remove(old.record.id, force: true) }
    }

    enum RestartDecision { case now, wait((String, String)) }

    /// CrashLoopBackOff: 10 s doubling to 5 min after each exit; a run of 10 minutes or more resets it.
    func restartDecision(_ latest: Instance, exit: ExitRecord, container: String, pod: String, namespace: String, uid: String) -> RestartDecision {
        let finished = Timestamps.parse(exit.finishedAt) ?? Date.distantPast
        let startedAt = Timestamps.parse(exit.startedAt) ?? finished
        let ranLong = finished.timeIntervalSince(startedAt) >= 600
        let delay = ranLong ? 0 : min(10 * pow(2, Double(latest.name.attempt)), 300)
        if Date().timeIntervalSince(finished) >= delay { return .now }
        return .wait(("CrashLoopBackOff", "back-off \(Int(delay))s restarting failed container=\(container) pod=\(pod)_\(namespace)(\(uid))"))
    }

    /// One pod's containers, fresh from the runtime (status read only for those).
    func runtimeInstances(_ uid: String) -> [Instance] {
        runtime.store.all().compactMap { r in
            guard let n = ContainerName(parsing: r.name), n.uid == String(uid.prefix(8)) else { return nil }
            return (n, r, runtime.store.status(of: r.id))
        }
    }

    enum SandboxResult { case ready(restarted: Bool), failed(String, String) }

    /// The pod's sandbox is running (started, or restarted after it died — then the pod's
    /// containers are stopped first, as the kubelet does); its pid goes into the context.
    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func ensureSandbox(_ context: PodContext, instances: [Instance]) -> SandboxResult {
        let sandbox = PodSandbox(rootDir: agent.options.rootDir, cgroupRoot: agent.options.cgroupRoot)
        let qos = context.pod["status"]?["qosClass"]?.stringValue ?? PodRules.qosClass(context.pod["spec"] ?? .null)
        context.cgroupParent = sandbox.cgroupPath(uid: context.uid, qosClass: qos)
        let sandboxes = attempts(of: PodSandbox.containerName, in: instances)
        if let latest = sandboxes.last, case .running(let pid) = latest.status {
            context.sandboxPID = pid
            return .ready(restarted: false)
        }
        // None yet, or it died: stop what still runs in the old namespaces, then start afresh.
        if !sandboxes.isEmpty {
            for i in instances where i.name.container != PodSandbox.containerName {
                if case .running = i.status { try? runtime.kill(i.record.id, signal: SIGKILL) }
            }
            for old in sandboxes { try? runtime.remove(old.record.id, force: true) }
        }
        let meta = context.pod["metadata"] ?? .null
        if agent.network.mustWait(context.pod) {
            return .failed("ContainerCreating", "network is not ready: the node has no pod CIDR yet")
        }
        do {
            _ = try sandbox.createCgroup(context.pod, uid: context.uid)
            try writeEtcFiles(context, podIP: nil)
            let name = ContainerName(container: PodSandbox.containerName, pod: meta["name"]?.stringValue ?? "",
                                     namespace: meta["namespace"]?.stringValue ?? "default", uid: context.uid,
                                     attempt: (sandboxes.last?.name.attempt ?? -1) + 1)
            let record = try runtime.run(sandbox.spec(context.pod, name: name, cgroupParent: context.cgroupParent))
            guard case .running(let pid) = runtime.store.status(of: record.id) else {
                return .failed("ContainerCreating", "pod sandbox exited at once")
            }
            do {
                // /etc/hosts names the pod's own address, known only now.
                if let ip = try agent.network.setUp(context.pod, uid: context.uid, sandboxPID: pid) { try writeEtcFiles(context, podIP: ip) }
            } catch {
                // No network, no pod: the sandbox goes and the next pass tries again.
                try? runtime.remove(record.id, force: true)
                agent.events.container(context.pod, nil, type: "Warning", reason: "FailedCreatePodSandBox", message: "\(error)")
                return .failed("ContainerCreating", "Failed to create pod sandbox: \(error)")
            }
            context.sandboxPID = pid
            return .ready(restarted: true)
        } catch {
            return .failed("ContainerCreating", "Failed to create pod sandbox: \(error)")
        }
    }

    /// The pod's /etc/hosts, /etc/hostname and /etc/resolv.conf (a DNS fallback is an event).
    func writeEtcFiles(_ context: PodContext, podIP: String?) throws {
        let volumes = PodVolumes(rootDir: agent.options.rootDir, uid: context.uid, pod: context.pod, objects: nil)
        let (resolv, warning) = PodDNS.resolvConf(context.pod, settings: agent.dnsSettings)
        if let warning, podIP == nil {
            agent.events.container(context.pod, nil, type: "Warning", reason: "DNSConfigForming", message: warning)
        }
        try volumes.writeEtcFiles(hostname: PodSandbox.hostname(context.pod), podIP: podIP, domain: agent.dnsSettings.domain, resolv: resolv)
    }

    /// Starts one attempt of a container; returns a waiting reason when it can't (yet).
    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func start(_ c: JSONValue, attempt: Int, context: PodContext) -> (String, String)? {
        let meta = context.pod["metadata"] ?? .null
        let image = c["image"]?.stringValue ?? ""
        let policy = c["imagePullPolicy"]?.stringValue ?? PodRules.pullPolicyDefault(image: image)
        if let w = agent.images.ensure(image, policy: policy, pod: context.pod, container: c) { return w }
        let name = ContainerName(container: c["name"]?.stringValue ?? "", pod: meta["name"]?.stringValue ?? "",
                                 namespace: meta["namespace"]?.stringValue ?? "default", uid: context.uid, attempt: attempt)
        let objects = self.objects()
        let volumes = PodVolumes(rootDir: agent.options.rootDir, uid: context.uid, pod: context.pod, objects: objects,
                                 claimPaths: context.claimPaths)
        let spec: ContainerSpec
        do {
            if context.volumePaths == nil { context.volumePaths = try volumes.setUp(nodeAllocatable: agent.allocatable) }
            spec = try PodContainerSpec(pod: context.pod, objects: objects, nodeAllocatable: agent.allocatable,
                                        logMaxBytes: agent.options.containerLogMaxBytes, logMaxFiles: agent.options.containerLogMaxFiles)
                .build(c, name: name, sandboxPID: context.sandboxPID, cgroupParent: context.cgroupParent,
                       volumes: volumes, volumePaths: context.volumePaths ?? [:])
        } catch {
            agent.events.container(context.pod, c, type: "Warning", reason: "Failed", message: "Error: \(error)")
            return ("CreateContainerConfigError", "\(error)")
        }
        do {
            let record = try runtime.run(spec)
            agent.events.container(context.pod, c, reason: "Created", message: "Created container \(name.container)")
            agent.events.container(context.pod, c, reason: "Started", message: "Started container \(name.container)")
            agent.probes.track(containerID: record.id, container: c, pod: context.pod, sandboxPID: context.sandboxPID,
                               startedAt: Date(), fresh: true)
            return nil
        } catch {
            // A container that failed to start is removed: the next pass tries again.
            if let failed = runtime.list().first(where: { $0.record.name == name.text }) { try? runtime.remove(failed.record.id, force: true) }
            agent.events.container(context.pod, c, type: "Warning", reason: "Failed", message: "Error: \(error)")
            return ("CreateContainerError", "\(error)")
        }
    }

    /// Graceful termination: SIGTERM to the app containers, SIGKILL after the grace period, then
    /// the sandbox; everything removed (volumes, cgroup) and the deletion confirmed to the API.
    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func terminate(_ pod: JSONValue, uid: String, name: String, namespace: String, instances: [Instance]) {
        let grace = pod["metadata"]?["deletionGracePeriodSeconds"]?.intValue ?? pod["spec"]?["terminationGracePeriodSeconds"]?.intValue ?? 30
        let running = instances.filter {
            guard $0.name.container != PodSandbox.containerName, case .running = $0.status else { return false }
            return true
        }
        if !running.isEmpty {
            let started = terminationStarted[uid] ?? Date()
            if terminationStarted[uid] == nil {
                terminationStarted[uid] = started
                let containers = (pod["spec"]?["containers"]?.arrayValue ?? []) + (pod["spec"]?["initContainers"]?.arrayValue ?? [])
                for i in running {
                    let c = containers.first { $0["name"]?.stringValue == i.name.container }
                    agent.events.container(pod, c, reason: "Killing", message: "Stopping container \(i.name.container)")
                    stop(i, container: c, pod: pod, grace: Double(grace))
                }
            } else if Date().timeIntervalSince(started) >= Double(grace) {
                for i in running { try? runtime.kill(i.record.id, signal: SIGKILL) }
            }
            return
        }
        // CNI DEL while the sandbox's namespace still exists (plugins find their addresses there).
        agent.network.tearDown(uid)
        for i in instances.sorted(by: { a, _ in a.name.container != PodSandbox.containerName }) {
            try? runtime.remove(i.record.id, force: true)
        }
        cleanUpPod(uid: uid)
        terminationStarted[uid] = nil
        if StaticPods.isStatic(pod) {
            // Its file is gone: the mirror pod goes with the next mirror sync.
            agent.staticPods?.finished(uid)
            reported[uid] = nil
            return
        }
        // Confirm: the pod may now go (grace 0, only this incarnation).
        guard let client = api(), let podType = try? ResourceResolver.resolve("pods") else { return }
        let body: JSONValue = ["kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": ["uid": .string(uid)]]
        if let r = try? client.request("DELETE", ResourceResolver.path(podType, namespace: namespace, name: name), body: body.serialized()),
           (200..<300).contains(r.code) || r.code == 404 || r.code == 409 {
            agent.pods.remove(pod)
            reported[uid] = nil
        }
    }

    /// SIGTERM, after the preStop hook when there is one (on a thread: the hook may take up to the grace period).
    func stop(_ i: Instance, container c: JSONValue?, pod: JSONValue, grace: Double) {
        guard let hook = c?["lifecycle"]?["preStop"], let c, let action = ProbeAction(hook, container: c) else {
            try? runtime.kill(i.record.id, signal: SIGTERM)
            return
        }
        let runtime = self.runtime, agent = self.agent
        var pid: Int32?
        if let sandbox = runtimeInstances(pod["metadata"]?["uid"]?.stringValue ?? "").first(where: { $0.name.container == PodSandbox.containerName }),
           case .running(let p) = sandbox.status { pid = p }
        let sandboxPID = pid
        Thread.detachNewThread {
            let (ok, message) = action.run(runtime: runtime, containerID: i.record.id, sandboxPID: sandboxPID, timeout: max(1, grace))
            if !ok { agent.events.container(pod, c, type: "Warning", reason: "FailedPreStopHook", message: message) }
            try? runtime.kill(i.record.id, signal: SIGTERM)
        }
    }

    /// Volumes (tmpfs unmounted), the pod directory and the pod cgroup go.
    func cleanUpPod(uid: String) {
        agent.network.tearDown(uid)
        let podDir = agent.options.rootDir + "/pods/" + uid
        do { try PodVolumes.tearDown(podDir: podDir) } catch { agent.log("cleaning up pod \(uid): \(error)") }
        PodSandbox(rootDir: agent.options.rootDir, cgroupRoot: agent.options.cgroupRoot).removeCgroup(uid: uid)
    }

    // MARK: status

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func report(_ pod: JSONValue, uid: String, name: String, namespace: String, instances: [Instance],
                waiting: [String: (String, String)], initState: InitState) {
        let spec = pod["spec"] ?? .null
        let restartPolicy = spec["restartPolicy"]?.stringValue ?? "Always"
        let startTime = pod["status"]?["startTime"]?.stringValue ?? Timestamps.now()
        var initStatuses: [JSONValue] = []
        var initCounts = StateCounts()
        for c in spec["initContainers"]?.arrayValue ?? [] {
            initStatuses.append(containerStatus(c, instances: instances, waiting: waiting, counts: &initCounts))
        }
        var statuses: [JSONValue] = []
        var counts = StateCounts()
        for c in spec["containers"]?.arrayValue ?? [] {
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
            "qosClass": .string(pod["status"]?["qosClass"]?.stringValue ?? PodRules.qosClass(spec)),
        ]
        if !initStatuses.isEmpty { status["initContainerStatuses"] = .array(initStatuses) }
        if let podIP { status["podIP"] = .string(podIP); status["podIPs"] = [["ip": .string(podIP)]] }
        if reported[uid] == status { return }
        guard let client = api(), let podType = try? ResourceResolver.resolve("pods") else { return }
        let patch: JSONValue = ["status": status]
        if let r = try? client.request("PATCH", ResourceResolver.path(podType, namespace: namespace, name: name, subresource: "status"),
                                       body: patch.serialized(), contentType: "application/merge-patch+json"),
           (200..<300).contains(r.code) {
            reported[uid] = status
        }
    }

    struct StateCounts { var running = 0, ready = 0, succeeded = 0, failed = 0, waiting = 0 }

    /// One containerStatuses entry. Kept out of report()'s loop (and not inlined into it): the
    /// release optimizer spent minutes on loop-invariant code motion over the inlined literals.
    @inline(never)
    func containerStatus(_ c: JSONValue, instances: [Instance], waiting: [String: (String, String)], counts: inout StateCounts) -> JSONValue {
        let cname = c["name"]?.stringValue ?? ""
        let attempts = instances.filter { $0.name.container == cname }.sorted { $0.name.attempt < $1.name.attempt }
        var status = JSONValue.object(JSONObject())
        status["name"] = .string(cname)
        status["image"] = .string(c["image"]?.stringValue ?? "")
        status["imageID"] = .string(attempts.last.map { Self.imageID($0.record) } ?? "")
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
                let probed = agent.probes.state(latest.record.id)
                let ready = probed?.ready ?? true
                status["ready"] = .bool(ready)
                status["started"] = .bool(probed?.started ?? true)
                counts.running += 1
                if ready { counts.ready += 1 }
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

    /// "docker.io/library/busybox@sha256:..." — the repository and the manifest digest it ran.
    static func imageID(_ record: ContainerRecord) -> String {
        guard let digest = record.imageDigest else { return "" }
        let repository = record.image.split(separator: "@").first.map { name -> String in
            guard let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") else { return String(name) }
            return String(name[..<colon])
        } ?? record.image
        return repository + "@" + digest
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
