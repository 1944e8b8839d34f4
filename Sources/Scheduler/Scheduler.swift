// The scheduler: informers feed a cache of nodes (with the pods on them, assumed ones included,
// so consecutive decisions see each other) and a queue of unscheduled pods for our
// schedulerName; one thread runs the framework per pod and hands the binding to a pool of
// binder threads. A pod that fits nowhere gets PodScheduled=False and a FailedScheduling event,
// and waits with back-off until the cluster changes.
import API
import Client
import Foundation

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
        }
    }

    func assume(_ pod: PodInfo, on node: NodeInfo) {
        withLock {
            assumed[pod.key] = node.name
            node.add(pod)
        }
    }

    /// A binding failed: the pod no longer counts on the node.
    func forget(_ key: String) {
        withLock {
            if let n = assumed.removeValue(forKey: key), placed[key] == nil { nodes[n]?.remove(key) }
        }
    }

    func isScheduled(_ key: String) -> Bool { withLock { assumed[key] != nil || placed[key] != nil } }
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
        let n = (attempts[pod.key] ?? 0) + 1
        attempts[pod.key] = n
        waiting[pod.key] = (Date().addingTimeInterval(min(pow(2, Double(n - 1)), 10)), true)
    }

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

    public init(options: SchedulerOptions, log: @escaping (String) -> Void) {
        self.options = options
        self.log = log
        let server = options.server
        events = EventRecorder(component: options.schedulerName) { try? APIClient(server: server) }
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
        nodes.start()
        pods.start()
        nodes.waitForSync()
        pods.waitForSync()
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

    func scheduleOne(_ pod: PodInfo) {
        let nodes = cache.nodeList
        let result = cache.withLock { framework.schedule(pod, nodes: nodes) }
        switch result {
        case .success(let node):
            cache.assume(pod, on: node)
            queue.scheduled(pod.key)
            bind(pod, to: node.name)
        case .failure(let fit):
            queue.unschedulable(pod)
            let message = fit.description
            jobs.submit { [self] client in recordUnschedulable(pod, message: message, client: client) }
        }
    }

    func bind(_ pod: PodInfo, to node: String) {
        jobs.submit { [self] client in
            let binding: JSONValue = ["apiVersion": "v1", "kind": "Binding",
                                      "metadata": ["name": .string(pod.name), "namespace": .string(pod.namespace), "uid": .string(pod.uid)],
                                      "target": ["apiVersion": "v1", "kind": "Node", "name": .string(node)]]
            let r = try? client.request("POST", "/api/v1/namespaces/\(pod.namespace)/pods/\(pod.name)/binding", body: binding.serialized())
            guard let r, r.code == 201 || r.code == 200 else {
                cache.forget(pod.key)
                if let r, r.code == 404 || r.code == 409 { return }   // gone, or bound by someone else
                log("binding \(pod.key) to \(node): \(r?.errorMessage ?? "no answer"); retrying")
                queue.add(pod)
                return
            }
            if options.scheduledEvents {
                events.container(pod.object, nil, reason: "Scheduled", message: "Successfully assigned \(pod.key) to \(node)")
            }
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

/// A fixed set of threads, each with its own API connection, running submitted jobs in order.
final class WorkPool: @unchecked Sendable {
    private let cond = NSCondition()
    private var jobs: [(APIClient) -> Void] = []
    private var head = 0

    func start(threads: Int, server: String) {
        for _ in 0..<max(1, threads) {
            Thread.detachNewThread { [self] in
                var client = try? APIClient(server: server)
                while true {
                    let job = next()
                    if client == nil { client = try? APIClient(server: server) }
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
