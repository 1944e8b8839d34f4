// The scheduler: informers feed a cache of nodes (with the pods on them, assumed ones included,
// so consecutive decisions see each other) and a queue of unscheduled pods for our
// schedulerName; listers of claims, volumes and storage classes serve VolumeBinding. One thread
// runs the framework per pod and hands the binding (with its volume writes) to a pool of
// binder threads. A pod that fits nowhere gets PodScheduled=False and a FailedScheduling event,
// and waits with back-off until the cluster changes.
import API
import Client
import Foundation
import Telemetry

public struct SchedulerOptions: Sendable {
    public var server: String
    public var schedulerName = "default-scheduler"
    /// Bindings in flight at once (each binder has its own connection).
    public var binders = 8
    /// Post a "Scheduled" event for every pod (kube-scheduler does).
    public var scheduledEvents = true

    public init(server: String) { self.server = server }
}

final class SchedulerCache: @unchecked Sendable {
    private let lock = NSLock()
    private var nodes: [String: NodeInfo] = [:]
    private var order: [NodeInfo] = []
    /// key → node of pods we assumed (bound or being bound).
    private var assumed: [String: String] = [:]
    /// Pods the API reports on a node, by key.
    private var placed: [String: PodInfo] = [:]
    /// Claim key → the pods (assumed or placed, not finished) mounting it, for ReadWriteOncePod;
    /// and pod key → its claim keys, for the pods counted there.
    private var claimUsers: [String: Set<String>] = [:]
    private var podClaims: [String: [String]] = [:]

    func withLock<T>(_ body: () throws -> T) rethrows -> T { lock.lock(); defer { lock.unlock() }; return try body() }

    /// The node list in a stable order (the framework rotates its start over it).
    var nodeList: [NodeInfo] { withLock { order } }

    /// Returns whether anything the filters look at changed (heartbeats alone don't).
    @discardableResult
    func updateNode(_ node: JSONValue) -> Bool {
        guard let name = node["metadata"]?["name"]?.stringValue else { return false }
        return withLock {
            if let existing = nodes[name] {
                let before = (existing.labels, existing.allocatable, existing.taints, existing.unschedulable, existing.ready)
                existing.update(from: node)
                return before != (existing.labels, existing.allocatable, existing.taints, existing.unschedulable, existing.ready)
            }
            let info = NodeInfo(name: name)
            info.update(from: node)
            nodes[name] = info
            order.append(info)
            // Pods seen on this node before the node itself.
            for pod in placed.values where pod.nodeName == name { info.add(pod) }
            return true
        }
    }

    func removeNode(_ name: String) {
        withLock {
            nodes[name] = nil
            order.removeAll { $0.name == name }
        }
    }

    /// A pod the API says runs on a node (terminal pods free their resources).
    func podPlaced(_ pod: PodInfo, terminal: Bool) {
        withLock {
            if let was = assumed.removeValue(forKey: pod.key), was != pod.nodeName { nodes[was]?.remove(pod.key) }
            defer { countClaims(pod.key, pod) }
            if terminal {
                if let old = placed.removeValue(forKey: pod.key) { nodes[old.nodeName]?.remove(pod.key) }
                return
            }
            if let old = placed[pod.key], old.nodeName != pod.nodeName { nodes[old.nodeName]?.remove(pod.key) }
            placed[pod.key] = pod
            nodes[pod.nodeName]?.add(pod)
        }
    }

    func podGone(_ key: String) {
        withLock {
            if let old = placed.removeValue(forKey: key) { nodes[old.nodeName]?.remove(key) }
            if let n = assumed.removeValue(forKey: key) { nodes[n]?.remove(key) }
            countClaims(key, nil)
        }
    }

    func assume(_ pod: PodInfo, on node: NodeInfo) {
        withLock {
            assumed[pod.key] = node.name
            node.add(pod)
            countClaims(pod.key, pod)
        }
    }

    /// A binding failed: the pod no longer counts on the node.
    func forget(_ key: String) {
        withLock {
            if let n = assumed.removeValue(forKey: key), placed[key] == nil { nodes[n]?.remove(key) }
            countClaims(key, nil)
        }
    }

    func isScheduled(_ key: String) -> Bool { withLock { assumed[key] != nil || placed[key] != nil } }

    /// The pods (assumed or placed, not finished) mounting a claim ("namespace/name").
    func users(ofClaim key: String) -> Set<String> { withLock { claimUsers[key] ?? [] } }

    /// Brings claimUsers in step with whether pod `key` counts now (under the lock; `pod`: its
    /// latest info, if any). Pods without claims cost one check.
    private func countClaims(_ key: String, _ pod: PodInfo?) {
        let counts = assumed[key] != nil || placed[key] != nil
        if (pod?.claims.isEmpty ?? true) && podClaims.isEmpty { return }
        let before = podClaims[key] ?? []
        let now = !counts ? [] : pod.map { p in p.claims.map { p.namespace + "/" + $0.claimName } } ?? before
        guard now != before else { return }
        for c in before {
            claimUsers[c]?.remove(key)
            if claimUsers[c]?.isEmpty == true { claimUsers[c] = nil }
        }
        for c in now { claimUsers[c, default: []].insert(key) }
        podClaims[key] = now.isEmpty ? nil : now
    }
}

/// Pods waiting to be scheduled: an active FIFO; unschedulable pods are parked until the cluster
/// changes (a node appears or changes, a pod goes) — then they retry after their back-off (1 s
/// doubling to 10 s) — or for a minute at most, like kube-scheduler's unschedulable queue.
final class SchedulingQueue: @unchecked Sendable {
    private let cond = NSCondition()
    private var active: [String] = []
    private var head = 0
    private var queued = Set<String>()
    private var pods: [String: PodInfo] = [:]
    private var waiting: [String: (readyAt: Date, parked: Bool)] = [:]
    static let flushAfter: Double = 60
    private var attempts: [String: Int] = [:]

    func add(_ pod: PodInfo) {
        cond.lock(); defer { cond.unlock() }
        pods[pod.key] = pod
        guard waiting[pod.key] == nil, !queued.contains(pod.key) else { return }
        queued.insert(pod.key)
        active.append(pod.key)
        cond.signal()
    }

    func remove(_ key: String) {
        cond.lock(); defer { cond.unlock() }
        pods[key] = nil
        waiting[key] = nil
        attempts[key] = nil
    }

    /// The next pod to schedule (blocks); nil entries removed meanwhile are skipped.
    func pop() -> PodInfo {
        cond.lock(); defer { cond.unlock() }
        while true {
            promoteReady()
            if head < active.count {
                let key = active[head]
                head += 1
                queued.remove(key)
                if head > 1024 && head * 2 > active.count { active.removeFirst(head); head = 0 }
                if let pod = pods[key] { return pod }
                continue
            }
            cond.wait(until: Date().addingTimeInterval(0.1))
        }
    }

    func unschedulable(_ pod: PodInfo) {
        cond.lock(); defer { cond.unlock() }
        guard pods[pod.key] != nil else { return }
        park(pod.key, untilClusterChanges: true)
    }

    /// An attempt failed for a passing reason (a conflict writing its volumes): retry after the back-off.
    func backOff(_ pod: PodInfo) {
        cond.lock(); defer { cond.unlock() }
        pods[pod.key] = pod
        park(pod.key, untilClusterChanges: false)
    }

    /// Waits out the doubling back-off (1 s to 10 s); with `untilClusterChanges`, a cluster change
    /// wakes it sooner. Under the lock.
    private func park(_ key: String, untilClusterChanges: Bool) {
        let n = (attempts[key] ?? 0) + 1
        attempts[key] = n
        waiting[key] = (Date().addingTimeInterval(min(pow(2, Double(n - 1)), 10)), untilClusterChanges)
    }

    /// Pods waiting in each queue: to be tried now, backing off after a passing failure, parked as unschedulable.
    func pendingCounts() -> (active: Int, backoff: Int, unschedulable: Int) {
        cond.lock(); defer { cond.unlock() }
        var parked = 0
        for w in waiting.values where w.parked { parked += 1 }
        return (queued.count, waiting.count - parked, parked)
    }

    /// How many failed attempts the pod has had so far.
    func failedAttempts(_ key: String) -> Int { cond.lock(); defer { cond.unlock() }; return attempts[key] ?? 0 }

    func scheduled(_ key: String) {
        cond.lock(); defer { cond.unlock() }
        pods[key] = nil
        waiting[key] = nil
        attempts[key] = nil
    }

    /// Something changed (a node came, a pod left): waiting pods retry at once.
    func clusterChanged() {
        cond.lock(); defer { cond.unlock() }
        for key in waiting.keys { waiting[key]?.parked = false }
        cond.signal()
    }

    private func promoteReady() {
        let now = Date()
        for (key, w) in waiting where w.parked ? w.readyAt.addingTimeInterval(Self.flushAfter) <= now : w.readyAt <= now {
            waiting[key] = nil
            if queued.insert(key).inserted { active.append(key) }
        }
    }
}

public final class Scheduler: @unchecked Sendable {
    let options: SchedulerOptions
    let log: (String) -> Void
    let cache = SchedulerCache()
    let queue = SchedulingQueue()
    let framework = Framework()
    private let jobs = WorkPool()
    let events: EventRecorder
    let volumes: VolumeBinding
    /// scheduler_* series, when the scheduler runs where they are exposed (`skiff master`).
    let metrics: SchedulerMetrics?
    /// The informers under VolumeBinding's listers (none in unit tests, which call the handlers).
    private let volumeInformers: (claims: Informer, volumes: Informer, classes: Informer)?

    public convenience init(options: SchedulerOptions, metrics: MetricsRegistry? = nil, log: @escaping (String) -> Void) {
        let claims = Informer(PersistentVolumeClaim.self, server: options.server)
        let volumes = Informer(PersistentVolume.self, server: options.server)
        let classes = Informer(StorageClass.self, server: options.server)
        self.init(options: options, log: log,
                  volumes: VolumeBinding(claims: Lister(claims), volumes: Lister(volumes), classes: Lister(classes)),
                  informers: (claims, volumes, classes), metrics: metrics)
    }

    init(options: SchedulerOptions, log: @escaping (String) -> Void, volumes: VolumeBinding,
         informers: (claims: Informer, volumes: Informer, classes: Informer)? = nil, metrics: MetricsRegistry? = nil) {
        self.options = options
        self.log = log
        self.volumes = volumes
        volumeInformers = informers
        let server = options.server
        events = EventRecorder(component: options.schedulerName) { try? APIClient(server: server) }
        let queue = self.queue
        self.metrics = metrics.map { SchedulerMetrics(profile: options.schedulerName, registry: $0, queue: queue) }
    }

    /// Starts the informers and the binders, then schedules on this thread forever.
    public func run() -> Never {
        let nodes = Informer(server: options.server, path: "/api/v1/nodes")
        nodes.onEvent { [self] event in
            switch event {
            case .added(let n), .updated(_, let n): if cache.updateNode(n) { queue.clusterChanged() }
            case .deleted(let n): cache.removeNode(n["metadata"]?["name"]?.stringValue ?? "")
            }
        }
        let pods = Informer(server: options.server, path: "/api/v1/pods")
        pods.onEvent { [self] event in
            switch event {
            case .added(let p), .updated(_, let p): podChanged(p)
            case .deleted(let p):
                let key = objectKey(p)
                cache.podGone(key)
                queue.remove(key)
                queue.clusterChanged()
            }
        }
        var informers = [nodes, pods]
        if let v = volumeInformers {
            v.claims.onChange(PersistentVolumeClaim.self) { [self] old, new in claimChanged(old, new) }
            v.volumes.onChange(PersistentVolume.self) { [self] old, new in volumeChanged(old, new) }
            v.classes.onEvent { [self] _ in queue.clusterChanged() }
            informers += [v.claims, v.volumes, v.classes]
        }
        for i in informers { i.start() }
        for i in informers { i.waitForSync() }
        jobs.start(threads: options.binders, server: options.server)
        log("scheduler \(options.schedulerName) running against \(options.server)")
        while true { scheduleOne(queue.pop()) }
    }

    func podChanged(_ p: JSONValue) {
        let pod = PodInfo(p)
        let phase = p["status"]?["phase"]?.stringValue
        if !pod.nodeName.isEmpty {
            cache.podPlaced(pod, terminal: phase == "Succeeded" || phase == "Failed")
            queue.scheduled(pod.key)
            if phase == "Succeeded" || phase == "Failed" { queue.clusterChanged() }
            return
        }
        guard pod.schedulerName == options.schedulerName, p["metadata"]?["deletionTimestamp"] == nil,
              !cache.isScheduled(pod.key) else { return }
        queue.add(pod)
    }

    /// A claim, volume or class changed: pods waiting on their volumes retry, and a write of ours
    /// the informer now shows is no longer pending.
    func claimChanged(_ old: PersistentVolumeClaim?, _ new: PersistentVolumeClaim?) {
        if let key = (new ?? old)?.key { volumes.claimChanged(key, new) }
        queue.clusterChanged()
    }

    func volumeChanged(_ old: PersistentVolume?, _ new: PersistentVolume?) {
        if let name = (new ?? old)?.name { volumes.volumeChanged(name, new) }
        queue.clusterChanged()
    }

    /// One attempt: the node and the volume writes to make before binding, or why no node fits.
    @discardableResult
    func scheduleOne(_ pod: PodInfo) -> Result<(node: String, steps: [VolumeStep]), FitError> {
        let started = SchedulerMetrics.now()
        let nodes = cache.nodeList
        var podVolumes: PodVolumes?
        if !pod.claims.isEmpty {
            switch volumes.preFilter(pod, usersOf: cache.users(ofClaim:)) {
            case .success(let v): podVolumes = v.isEmpty ? nil : v
            case .failure(let rejection): return unschedulable(pod, FitError(rejection, nodes: nodes.count), started: started)
            }
        }
        let result = cache.withLock {
            framework.schedule(pod, nodes: nodes, volumes: podVolumes).map { (node: $0, steps: podVolumes?.steps(on: $0) ?? []) }
        }
        switch result {
        case .success(let chosen):
            let tries = queue.failedAttempts(pod.key) + 1
            volumes.assume(chosen.steps)
            cache.assume(pod, on: chosen.node)
            queue.scheduled(pod.key)
            bind(pod, to: chosen.node.name, steps: chosen.steps, started: started, tries: tries)
            return .success((chosen.node.name, chosen.steps))
        case .failure(let fit):
            return unschedulable(pod, fit, started: started)
        }
    }

    private func unschedulable(_ pod: PodInfo, _ fit: FitError, started: UInt64) -> Result<(node: String, steps: [VolumeStep]), FitError> {
        metrics?.attempt(.unschedulable, started: started)
        queue.unschedulable(pod)
        let message = fit.description
        jobs.submit { [self] client in recordUnschedulable(pod, message: message, client: client) }
        return .failure(fit)
    }

    func bind(_ pod: PodInfo, to node: String, steps: [VolumeStep] = [], started: UInt64, tries: Int) {
        jobs.submit { [self] client in bindNow(pod, to: node, steps: steps, client: client, started: started, tries: tries) }
    }

    /// PreBind, then the binding: the volume writes land before the pod is bound (kube-scheduler's order).
    /// The attempt that began at `started` (uptime ns) ends here.
    func bindNow(_ pod: PodInfo, to node: String, steps: [VolumeStep], client: some BindingClient,
                 started: UInt64 = SchedulerMetrics.now(), tries: Int = 1) {
        do {
            try volumes.preBind(steps, client: client)
        } catch {
            volumes.forget(steps)
            cache.forget(pod.key)
            log("binding \(pod.key) to \(node): volumes: \(error); retrying")
            events.container(pod.object, nil, type: "Warning", reason: "FailedScheduling",
                             message: "running PreBind plugin \"VolumeBinding\": \(error)")
            metrics?.attempt(.error, started: started)
            queue.backOff(pod)
            return
        }
        do {
            try client.bind(pod, to: node)
        } catch let e as APIStatusError where e.code == 404 || e.code == 409 {
            cache.forget(pod.key)   // gone, or bound by someone else
            metrics?.attempt(.error, started: started)
            return
        } catch {
            cache.forget(pod.key)
            log("binding \(pod.key) to \(node): \(error); retrying")
            metrics?.attempt(.error, started: started)
            queue.add(pod)
            return
        }
        metrics?.attempt(.scheduled, started: started, tries: tries)
        if options.scheduledEvents {
            events.container(pod.object, nil, reason: "Scheduled", message: "Successfully assigned \(pod.key) to \(node)")
        }
    }

    func recordUnschedulable(_ pod: PodInfo, message: String, client: APIClient) {
        let condition: JSONValue = ["type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": .string(message),
                                    "lastProbeTime": .null, "lastTransitionTime": .string(KubeTime.format())]
        let patch: JSONValue = ["status": ["conditions": [condition]]]
        _ = try? client.request("PATCH", "/api/v1/namespaces/\(pod.namespace)/pods/\(pod.name)/status", body: patch.serialized(),
                                contentType: "application/merge-patch+json")
        events.container(pod.object, nil, type: "Warning", reason: "FailedScheduling", message: message)
    }

}

/// The typed client plus the pods/binding subresource: everything a scheduling decision writes.
protocol BindingClient: ObjectClient {
    /// An APIStatusError when refused (404: the pod is gone; 409: it is bound already).
    func bind(_ pod: PodInfo, to node: String) throws
}

extension APIClient: BindingClient {
    func bind(_ pod: PodInfo, to node: String) throws {
        let binding: JSONValue = ["apiVersion": "v1", "kind": "Binding",
                                  "metadata": ["name": .string(pod.name), "namespace": .string(pod.namespace), "uid": .string(pod.uid)],
                                  "target": ["apiVersion": "v1", "kind": "Node", "name": .string(node)]]
        let r = try request("POST", "/api/v1/namespaces/\(pod.namespace)/pods/\(pod.name)/binding", body: binding.serialized())
        guard r.code == 201 || r.code == 200 else { throw APIStatusError(code: r.code, reason: "", message: r.errorMessage) }
    }
}

/// A fixed set of threads, each with its own API connection, running submitted jobs in order.
final class WorkPool: @unchecked Sendable {
    private let cond = NSCondition()
    private var jobs: [(APIClient) -> Void] = []
    private var head = 0

    func start(threads: Int, server: String) {
        for _ in 0..<max(1, threads) {
            Thread.detachNewThread { [self] in
                var client = try? APIClient(server: server, userAgent: "kube-scheduler")
                while true {
                    let job = next()
                    if client == nil { client = try? APIClient(server: server, userAgent: "kube-scheduler") }
                    if let client { job(client) }
                }
            }
        }
    }

    func submit(_ job: @escaping (APIClient) -> Void) {
        cond.lock(); jobs.append(job); cond.signal(); cond.unlock()
    }

    private func next() -> (APIClient) -> Void {
        cond.lock(); defer { cond.unlock() }
        while head == jobs.count { cond.wait() }
        let job = jobs[head]
        head += 1
        if head > 1024 && head * 2 > jobs.count { jobs.removeFirst(head); head = 0 }
        return job
    }
}
