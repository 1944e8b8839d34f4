// Informers and work queues, as client-go has them: an Informer keeps a list+watch cache of one
// resource (relisting after errors or a 410, and telling handlers what changed in between); a
// WorkQueue hands keys to workers with deduplication and delayed re-adds, so a controller
// reconciles each object at most once at a time.
import API
import Foundation
import Telemetry

public enum InformerEvent: Sendable {
    case added(JSONValue)
    case updated(old: JSONValue, new: JSONValue)
    case deleted(JSONValue)
}

/// "namespace/name" (or "name" for cluster-scoped objects).
public func objectKey(_ o: JSONValue) -> String {
    let name = o["metadata"]?["name"]?.stringValue ?? ""
    if let ns = o["metadata"]?["namespace"]?.stringValue, !ns.isEmpty { return ns + "/" + name }
    return name
}

public final class Informer: @unchecked Sendable {
    let server: String
    /// The collection path (e.g. /api/v1/pods), and an optional query (label/field selector).
    let path: String
    let query: String
    private let lock = NSLock()
    private var cache: [String: JSONValue] = [:]
    private var handlers: [(InformerEvent) -> Void] = []
    private var synced = false
    private let syncedSignal = DispatchSemaphore(value: 0)

    public init(server: String, path: String, query: String = "") {
        self.server = server
        self.path = path
        self.query = query
    }

    /// Handlers run on the informer's thread, in order of events; add them before start().
    public func onEvent(_ handler: @escaping (InformerEvent) -> Void) { lock.lock(); handlers.append(handler); lock.unlock() }

    public func start() { Thread.detachNewThread { self.run() } }

    /// Blocks until the first list has been delivered (or the timeout passes).
    @discardableResult
    public func waitForSync(timeout: Double = 30) -> Bool {
        if hasSynced { return true }
        let ok = syncedSignal.wait(timeout: .now() + timeout) == .success
        if ok { syncedSignal.signal() }
        return ok
    }

    public var hasSynced: Bool { lock.lock(); defer { lock.unlock() }; return synced }
    public var items: [JSONValue] { lock.lock(); defer { lock.unlock() }; return Array(cache.values) }
    public func get(_ key: String) -> JSONValue? { lock.lock(); defer { lock.unlock() }; return cache[key] }

    private func emit(_ event: InformerEvent) {
        lock.lock(); let hs = handlers; lock.unlock()
        for h in hs { h(event) }
    }

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    private func run() {
        var client: APIClient?
        while true {
            do {
                if client == nil { client = try APIClient(server: server) }
                guard let c = client else { continue }
                let sep = query.isEmpty ? "?" : "?" + query + "&"
                let list = try c.get(path + (query.isEmpty ? "" : "?" + query))
                guard list.code == 200 else { throw ClientError(list.errorMessage) }
                let body = try list.json()
                replace(body["items"]?.arrayValue ?? [])
                let rv = body["metadata"]?["resourceVersion"]?.stringValue ?? ""
                let watch = try c.watch(path + sep + "watch=true&allowWatchBookmarks=true&resourceVersion=\(rv)")
                defer { watch.close() }
                while let event = try watch.next() {
                    guard let type = event["type"]?.stringValue, let obj = event["object"] else { continue }
                    switch type {
                    case "ADDED", "MODIFIED": put(obj)
                    case "DELETED": remove(obj)
                    case "ERROR": throw ClientError(obj["message"]?.stringValue ?? "watch error")
                    default: break
                    }
                }
            } catch {
                client = nil
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }

    /// A fresh list: what disappeared is deleted, what changed updated.
    private func replace(_ items: [JSONValue]) {
        var fresh: [String: JSONValue] = [:]
        for o in items { fresh[objectKey(o)] = o }
        lock.lock()
        let old = cache
        cache = fresh
        let first = !synced
        synced = true
        lock.unlock()
        for (k, o) in old where fresh[k] == nil { emit(.deleted(o)) }
        for (k, o) in fresh {
            if let before = old[k] {
                if before["metadata"]?["resourceVersion"] != o["metadata"]?["resourceVersion"] { emit(.updated(old: before, new: o)) }
            } else {
                emit(.added(o))
            }
        }
        if first { syncedSignal.signal() }
    }

    private func put(_ o: JSONValue) {
        let key = objectKey(o)
        lock.lock()
        let before = cache[key]
        cache[key] = o
        lock.unlock()
        if let before { emit(.updated(old: before, new: o)) } else { emit(.added(o)) }
    }

    private func remove(_ o: JSONValue) {
        let key = objectKey(o)
        lock.lock()
        let before = cache.removeValue(forKey: key)
        lock.unlock()
        emit(.deleted(before ?? o))
    }
}

/// Keys to reconcile: a key waits once however often it is added, is never handed to two
/// workers at once, and comes back if it was added again while being worked on.
public final class WorkQueue: @unchecked Sendable {
    private let lock = NSCondition()
    private var queue: [String] = []
    private var head = 0          // queue[head...] waits; the consumed prefix is dropped now and then
    private var dirty = Set<String>()
    private var processing = Set<String>()
    private var failures: [String: Int] = [:]
    /// client-go's workqueue_* series, once instrument(name:registry:) named the queue.
    private var metrics: WorkQueueMetrics?

    public init() {}

    /// Records this queue's workqueue_* series (label name=`name`) in `registry`.
    public func instrument(name: String, registry: MetricsRegistry) {
        let m = WorkQueueMetrics(name: name, registry: registry)
        lock.lock()
        metrics = m
        m.depth.set(dirty.count)
        lock.unlock()
        registry.onScrape { [weak self] in self?.updateUnfinishedWork() }
    }

    public func add(_ key: String) {
        lock.lock(); defer { lock.unlock() }
        guard !dirty.contains(key) else { return }
        dirty.insert(key)
        metrics?.added(key)
        if !processing.contains(key) { queue.append(key); lock.signal() }
    }

    public func addAfter(_ key: String, _ seconds: Double) {
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in add(key) }
    }

    /// Exponential back-off per key (5 ms doubling to 60 s) until forget().
    public func addRateLimited(_ key: String) {
        lock.lock()
        let n = failures[key, default: 0]
        failures[key] = n + 1
        metrics?.retries.increment()
        lock.unlock()
        addAfter(key, min(0.005 * pow(2, Double(n)), 60))
    }

    public func forget(_ key: String) { lock.lock(); failures[key] = nil; lock.unlock() }

    /// The next key, blocking until there is one.
    public func get() -> String {
        lock.lock(); defer { lock.unlock() }
        while head == queue.count { lock.wait() }
        let key = queue[head]
        head += 1
        if head > 1024 && head * 2 > queue.count { queue.removeFirst(head); head = 0 }
        processing.insert(key)
        dirty.remove(key)
        metrics?.started(key)
        return key
    }

    public func done(_ key: String) {
        lock.lock(); defer { lock.unlock() }
        processing.remove(key)
        metrics?.finished(key)
        if dirty.contains(key) { queue.append(key); lock.signal() }
    }

    public var count: Int { lock.lock(); defer { lock.unlock() }; return queue.count - head }

    private func updateUnfinishedWork() {
        lock.lock(); defer { lock.unlock() }
        metrics?.updateUnfinishedWork()
    }
}
