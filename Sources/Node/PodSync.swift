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

/// The sync loop (syncAll) lists the runtime once per pass and hands each pod that needs work
/// to the pod workers; their syncs run at once, each with its own API connection.
final class PodSync: @unchecked Sendable {
    let agent: NodeAgent
    var runtime: ContainerRuntime { agent.runtime }
    let states = PodStates()
    let names = ContainerNames()
    /// When syncAll last looked for pod directories left behind (only its thread touches it).
    private var lastDirectoryScan = Date.distantPast
    private var previousLive = Set<String>()
    private(set) var workers: PodWorkers!

    struct DownwardSource: Equatable {
        var labels: [String: String]
        var annotations: [String: String]
    }

    init(agent: NodeAgent) {
        self.agent = agent
        workers = PodWorkers(threads: agent.options.podWorkers) { [agent] in agent.pods.changed.signal() }
    }

    /// This worker thread's keep-alive connection for status writes and object reads.
    func api() -> APIClient? {
        let key = "skiff.podsync.api"
        if let client = Thread.current.threadDictionary[key] as? APIClient { return client }
        guard let client = try? agent.client() else { return nil }
        Thread.current.threadDictionary[key] = client
        return client
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
        // (Before the list: a pod in flight now may change its containers behind it.)
        let inFlight = Set(workers.inFlight().map { String($0.prefix(8)) })
        // Settled pods (finished, sandbox gone, address released) and their containers are not
        // looked at again until they are deleted: a node keeps hundreds of completed Job pods,
        // and a pass comes with every pod update.
        var settled = Set<String>(), live = inFlight
        var unsettled: [(pod: JSONValue, view: Pod, uid: String, short: String)] = []
        for pod in pods {
            let view = Pod(json: pod)
            guard let uid = view.metadata.uid else { continue }
            let short = String(uid.prefix(8))
            live.insert(short)
            if view.metadata.deletionTimestamp == nil, states[uid].settled { settled.insert(short) } else { unsettled.append((pod, view, uid, short)) }
        }
        // (Containers not named by us are never a pod's: their status isn't read.)
        var byPod: [String: [Instance]] = [:]
        for (record, status) in runtime.list(where: { names.of($0).map { !settled.contains($0.uid) } ?? false }) {
            guard let n = names.of(record) else { continue }
            byPod[n.uid, default: []].append((n, record, status))
        }
        let nodeChanges = agent.nodeChanges.withLock { $0 }
        for (pod, view, uid, short) in unsettled {
            if inFlight.contains(short) { workers.passOver(uid); continue }
            let instances = byPod[short] ?? []
            let state = states[uid]
            if isSettled(view, state: state, instances: instances) {
                states.update(uid) { $0.settled = true }
                continue
            }
            let from = fingerprint(view, instances: instances, nodeChanges: nodeChanges)
            if state.syncedFrom == from, let at = state.syncedAt, Date().timeIntervalSince(at) < agent.options.syncInterval { continue }
            let operation = Self.operation(view, state: state)
            workers.submit(uid) { [self] in
                let started = KubeletMetrics.now()
                states.update(uid) { s in
                    s.syncedFrom = from; s.syncedAt = Date(); s.syncedVersion = view.metadata.resourceVersion
                    if s.firstSeen == nil { s.firstSeen = Date() }
                }
                sync(pod, uid: uid, instances: instances)
                agent.metrics.podSynced(operation, started: started)
            }
        }
        guard apiSynced else { return }
        // Pods no longer bound here (deleted with grace 0, or gone while we were down): their
        // network first, while the sandbox's namespace still exists. Their containers are seen
        // on every pass; their directories (one per pod, finished ones included) when a pod
        // went away since the last pass, and once a second.
        var orphanDirs: [String] = []
        let podWentAway = !previousLive.isSubset(of: live) || byPod.keys.contains { !live.contains($0) }
        previousLive = live
        if podWentAway || Date().timeIntervalSince(lastDirectoryScan) >= 1 {
            lastDirectoryScan = Date()
            orphanDirs = FileIO.listDirectory(agent.options.rootDir + "/pods").filter { !live.contains(String($0.prefix(8))) }
            names.retain(Set(runtime.store.ids()))
        }
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
        for uid in states.retain({ live.contains(String($0.prefix(8))) }) { agent.tokens.forget(podUID: uid) }
    }

    /// What a pod's sync depends on: its object's version, its containers' states and the node's
    /// other changes. A pod synced from the same within the last syncInterval is not synced
    /// again (a pass comes with every pod update: under a Job burst, dozens a second), so new
    /// pods don't queue behind running ones that have nothing to do. Timers (back-off, grace
    /// periods, claim retries) are served by the syncInterval.
    func fingerprint(_ pod: Pod, instances: [Instance], nodeChanges: Int) -> Int {
        var hasher = Hasher()
        hasher.combine(pod.metadata.resourceVersion)
        hasher.combine(nodeChanges)
        for i in instances {
            hasher.combine(i.record.id)
            switch i.status {
            case .running(let pid): hasher.combine(1); hasher.combine(pid)
            case .exited(let exit): hasher.combine(2); hasher.combine(exit.exitCode)
            case .created: hasher.combine(3)
            }
        }
        return hasher.finalize()
    }

    /// The kubelet's name for a sync: the first of a pod, one after its object changed, a periodic one, or its termination.
    static func operation(_ pod: Pod, state: PodState) -> KubeletMetrics.Operation {
        if pod.metadata.deletionTimestamp != nil { return .kill }
        guard state.syncedAt != nil else { return .create }
        return state.syncedVersion == pod.metadata.resourceVersion ? .sync : .update
    }

    /// A finished pod whose sandbox is stopped and address released needs nothing until it is
    /// deleted: the loop passes it by (a node keeps hundreds of completed Job pods).
    func isSettled(_ pod: Pod, state: PodState, instances: [Instance]) -> Bool {
        guard state.released, pod.metadata.deletionTimestamp == nil else { return false }
        return !instances.contains { if case .running = $0.status { return true }; return false }
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
        let phase = states[uid].reported?["phase"]?.stringValue ?? Pod(json: pod).status.phase?.rawValue
        if phase == "Succeeded" || phase == "Failed" {
            releaseFinished(uid, instances: instances)
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
            if restarted { started = true; current = runtimeInstances(uid); agent.metrics.sandboxStarted() }
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
            if startEphemeralContainers(context, instances: current, waiting: &waiting) { started = true }
        }
        refreshVolumes(context, wroteNow: context.volumePaths != nil)
        // Re-read the runtime only when this pass started something.
        report(pod, uid: uid, name: name, namespace: namespace, instances: started ? runtimeInstances(uid) : current,
               waiting: waiting, initState: initState)
        if let phase = states[uid].reported?["phase"]?.stringValue, phase == "Succeeded" || phase == "Failed" {
            releaseFinished(uid, instances: current)
        }
    }

    enum InitState { case running, done, failed }

    /// A finished pod's address goes back to the pool and its sandbox stops (completed Job pods
    /// would otherwise use up the node's /24 after 254 of them). CNI DEL comes first, while the
    /// sandbox's namespace is there for the plugins to clean up in; later passes find no record.
    func releaseFinished(_ uid: String, instances: [Instance]) {
        agent.network.tearDown(uid)
        for i in instances where i.name.container == PodSandbox.containerName {
            if case .running = i.status { try? runtime.kill(i.record.id, signal: SIGKILL) }
        }
        states.update(uid) { $0.released = true }
    }

    /// ConfigMap, Secret and downward API volumes follow their sources, like the kubelet's
    /// periodic sync: rewritten (only when changed) every syncFrequency.
    /// Downward API files follow the pod's labels and annotations at once (the pod update is the
    /// signal, as the kubelet remounts on it).
    func refreshVolumes(_ context: PodContext, wroteNow: Bool) {
        let kinds = ["configMap", "secret", "downwardAPI", "projected"]
        guard (context.pod["spec"]?["volumes"]?.arrayValue ?? []).contains(where: { v in kinds.contains { v[$0] != nil } }) else { return }
        let meta = Pod(json: context.pod).metadata
        let downward = DownwardSource(labels: meta.labels ?? [:], annotations: meta.annotations ?? [:])
        let state = states[context.uid]
        let metadataChanged = state.downwardWritten.map { $0 != downward } ?? false
        let due = state.volumesWritten.map { Date().timeIntervalSince($0) >= agent.options.syncFrequency } ?? true
        states.update(context.uid) { if wroteNow || metadataChanged || due { $0.volumesWritten = Date(); $0.downwardWritten = downward } }
        if wroteNow || !(metadataChanged || due) { return }
        let volumes = PodVolumes(rootDir: agent.options.rootDir, uid: context.uid, pod: context.pod, objects: objects(),
                                 claimPaths: state.mountedClaims ?? [:])
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
        let short = String(uid.prefix(8))
        return runtime.store.all(where: { names.of($0)?.uid == short }).compactMap { r in
            names.of(r).map { ($0, r, runtime.store.status(of: r.id)) }
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
    /// `pidNamespace`: an ephemeral container's target's, instead of the sandbox's.
    func start(_ c: JSONValue, attempt: Int, context: PodContext, pidNamespace: String? = nil) -> (String, String)? {
        let meta = context.pod["metadata"] ?? .null
        let image = c["image"]?.stringValue ?? ""
        let policy = c["imagePullPolicy"]?.stringValue ?? PodRules.pullPolicyDefault(image: image)
        if let w = agent.images.ensure(image, policy: policy, pod: context.pod, container: c) { return w }
        let name = ContainerName(container: c["name"]?.stringValue ?? "", pod: meta["name"]?.stringValue ?? "",
                                 namespace: meta["namespace"]?.stringValue ?? "default", uid: context.uid, attempt: attempt)
        let objects = self.objects()
        let volumes = PodVolumes(rootDir: agent.options.rootDir, uid: context.uid, pod: context.pod, objects: objects,
                                 claimPaths: context.claimPaths)
        var spec: ContainerSpec
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
        if let pidNamespace { spec.pidNamespace = .join(pidNamespace) }
        do {
            let record = try runtime.run(spec)
            agent.metrics.containerStarted(initContainer: Pod(json: context.pod).spec.initContainers.contains { $0.name == name.container })
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
}
