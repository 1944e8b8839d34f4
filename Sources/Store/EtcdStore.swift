// The store on an etcd v3 cluster, through etcd's JSON gateway (/v3/kv/*, /v3/watch) over
// libcurl: ranges with limit/continue at a revision, single-key transactions comparing create/mod
// revisions, compaction. resourceVersion is etcd's revision, as in Kubernetes.
//
// Watches are served like kube-apiserver's watch cache: one etcd watch over the whole key prefix
// feeds a ring of recent events and the local watchers; a watch from a revision the ring still
// covers replays from it, an older one gets an etcd watch of its own (or 410 once compacted).
// Endpoints fail over: a request that never reached a member goes to the next one; the cache's
// watch resumes from its last revision on another member, so watchers see no gap or duplicate.
import API
import Foundation
import HTTPTransfer

public final class EtcdStore: KeyValueStore, @unchecked Sendable {
    public struct Options: Sendable {
        public var endpoints: [String]
        public var tls = TLSOptions()
        /// Prefix of every key in etcd, so clusters can share one etcd.
        public var keyPrefix = "/skiff"
        /// Recent events kept for watches that start a little in the past.
        public var historyLimit = 20_000
        public init(endpoints: [String]) { self.endpoints = endpoints }
    }

    let options: Options
    let pool = ConnectionPool()
    /// Threads the blocking requests of every etcd store run on (as many as may usefully be in flight).
    static let workers = BlockingPool(threads: 64, name: "etcd")
    var workers: BlockingPool { Self.workers }
    private let lock = NSLock()
    private var preferred = 0
    // The watch cache: every event with a revision above historyFloor, up to lastSeen, is in history.
    private let hub = WatchHub()
    private var history: [WatchEvent] = []
    private var historyHead = 0
    private var historyFloor: Int64 = 0
    private var lastSeen: Int64 = 0
    private var closed = false
    private let cacheCancel = TransferCancel()
    /// Called with what the store has to say (member failover, compaction under the cache).
    public var log: @Sendable (String) -> Void = { _ in }

    /// Connects (the first reachable endpoint answers a read) and starts the watch cache.
    public init(options: Options) throws {
        guard !options.endpoints.isEmpty else { throw StoreError(.invalid, "etcd: no endpoints given") }
        for e in options.endpoints where !(e.hasPrefix("http://") || e.hasPrefix("https://")) {
            throw StoreError(.invalid, "etcd endpoint \(e) must be an http:// or https:// URL")
        }
        self.options = options
        let start = try revisionNow()
        historyFloor = start
        lastSeen = start
        // Weakly held between rounds: a store nobody uses any more goes, and its watch with it.
        Thread.detachNewThread { [weak self] in
            while let store = self, store.cacheWatchRound() {}
        }
    }

    deinit { close() }

    /// Stops the watch cache and closes every watch.
    public func close() {
        lock.lock(); closed = true; lock.unlock()
        cacheCancel.cancel()
        hub.closeAll()
    }

    // MARK: requests

    struct EtcdFailure: Error { let code: Int64; let message: String }

    /// POSTs `body` to `path` on a member: the preferred one first, then the others. A request
    /// that never reached a member (connection refused) or that a member could not serve
    /// (no leader) goes to the next one; `idempotent` ones also after a connection broke mid-way.
    func call(_ path: String, _ body: JSONValue, idempotent: Bool) throws -> JSONValue {
        let bytes = body.serialized()
        var lastError = ""
        lock.lock(); let first = preferred; lock.unlock()
        let n = options.endpoints.count
        for attempt in 0..<(n * 2) {
            let index = (first + attempt) % n
            let endpoint = options.endpoints[index]
            do {
                let r = try Transfer.perform("POST", endpoint + path, headers: ["Content-Type: application/json", "Expect:"], body: bytes,
                                             tls: options.tls, limit: 64 << 20, connectTimeout: 2, timeout: 30, pool: pool)
                let json = (try? JSONValue.parse(r.body)) ?? .null
                if r.status == 200 {
                    if index != first { lock.lock(); preferred = index; lock.unlock(); log("etcd: using \(endpoint)") }
                    return json
                }
                let failure = EtcdFailure(code: json["code"]?.intValue ?? 0, message: json["error"]?.stringValue ?? "HTTP \(r.status)")
                // Unavailable (no leader, leader changed, member stopping): another member may serve it.
                if failure.code == 14 && (idempotent || failure.message.contains("leader")) {
                    lastError = "\(endpoint): \(failure.message)"
                    Thread.sleep(forTimeInterval: attempt < n ? 0 : 0.2)
                    continue
                }
                throw failure
            } catch let e as HTTPTransferError {
                lastError = e.description
                let neverSent = e.curlCode == 7 || e.curlCode == 6   // couldn't connect / resolve
                if !(neverSent || idempotent) { throw StoreError(.io, "etcd: \(e.description) (the write's outcome is unknown)") }
                if attempt >= n { Thread.sleep(forTimeInterval: 0.2) }
            }
        }
        throw StoreError(.io, "etcd: no member of \(options.endpoints.joined(separator: ",")) answered: \(lastError)")
    }

    /// `call` off the caller's task (libcurl blocks).
    func request(_ path: String, _ body: JSONValue, idempotent: Bool) async throws -> JSONValue {
        try await workers.run { [self] in try call(path, body, idempotent: idempotent) }
    }

    func etcdKey(_ key: String) -> JSONValue { .string(Data((options.keyPrefix + key).utf8).base64EncodedString()) }

    /// The end of the etcd range holding every key under `prefix` (the prefix with its last byte raised).
    func etcdRangeEnd(_ prefix: String) -> JSONValue {
        var bytes = Array((options.keyPrefix + prefix).utf8)
        while let last = bytes.last, last == 0xff { bytes.removeLast() }
        if bytes.isEmpty { return .string(Data([0]).base64EncodedString()) }   // "\0": to the end of the keyspace
        bytes[bytes.count - 1] += 1
        return .string(Data(bytes).base64EncodedString())
    }

    static func decode(_ b64: JSONValue?) -> [UInt8] {
        guard let s = b64?.stringValue, let d = Data(base64Encoded: s) else { return [] }
        return Array(d)
    }

    static func int(_ v: JSONValue?) -> Int64 { v?.intValue ?? v?.stringValue.flatMap { Int64($0) } ?? 0 }

    func keyValue(_ kv: JSONValue) -> KeyValue {
        let full = String(decoding: Self.decode(kv["key"]), as: UTF8.self)
        return KeyValue(key: String(full.dropFirst(options.keyPrefix.count)), value: Self.decode(kv["value"]),
                        createRevision: Self.int(kv["create_revision"]), modRevision: Self.int(kv["mod_revision"]))
    }

    func translate(_ error: Error, _ what: String) -> Error {
        guard let f = error as? EtcdFailure else { return error }
        if f.message.contains("compacted") { return StoreError(.compacted(compactRevision: 0), "\(what): \(f.message)") }
        if f.message.contains("future revision") { return StoreError(.invalid, "\(what): \(f.message)") }
        return StoreError(.io, "\(what): etcd: \(f.message)")
    }

    // MARK: KeyValueStore

    /// One key's compare-and-write: `success` when `compare` holds, else the key is read back.
    private func txn(_ key: String, compare: JSONValue, success: JSONValue) async throws -> (ok: Bool, response: JSONValue) {
        let body: JSONValue = ["compare": [compare], "success": [success], "failure": [["request_range": ["key": etcdKey(key)]]]]
        let r = try await request("/v3/kv/txn", body, idempotent: false)
        return (r["succeeded"]?.boolValue ?? false, r)
    }

    private func current(in r: JSONValue) -> KeyValue? {
        r["responses"]?.arrayValue?.first?["response_range"]?["kvs"]?.arrayValue?.first.map(keyValue)
    }

    public func create(_ key: String, value: [UInt8]) async throws -> Int64 {
        let put: JSONValue = ["request_put": ["key": etcdKey(key), "value": .string(Data(value).base64EncodedString())]]
        let compare: JSONValue = ["key": etcdKey(key), "target": "CREATE", "result": "EQUAL", "create_revision": 0]
        do {
            let r = try await txn(key, compare: compare, success: put)
            guard r.ok else { throw StoreError(.alreadyExists, "\(key) already exists") }
            return Self.int(r.response["header"]?["revision"])
        } catch let e as StoreError where e.code == .io && e.message.contains("outcome is unknown") {
            // The member went away mid-write: if our value is there, the write happened.
            if let kv = try await get(key), kv.value == value { return kv.modRevision }
            throw e
        } catch { throw translate(error, "create \(key)") }
    }

    public func get(_ key: String) async throws -> KeyValue? {
        do {
            let r = try await request("/v3/kv/range", ["key": etcdKey(key)], idempotent: true)
            return r["kvs"]?.arrayValue?.first.map(keyValue)
        } catch { throw translate(error, "get \(key)") }
    }

    public func list(prefix: String, limit: Int?, continueAfter: String?, revision: Int64?) async throws -> ListResult {
        var body: JSONValue = ["key": etcdKey(continueAfter.map { $0 + "\u{0}" } ?? prefix), "range_end": etcdRangeEnd(prefix)]
        if let limit, limit > 0 { body["limit"] = .int(Int64(limit)) }
        if let revision, revision > 0 { body["revision"] = .int(revision) }
        do {
            let r = try await request("/v3/kv/range", body, idempotent: true)
            let items = (r["kvs"]?.arrayValue ?? []).map(keyValue)
            let at = revision.flatMap { $0 > 0 ? $0 : nil } ?? Self.int(r["header"]?["revision"])
            return ListResult(items: items, revision: at, more: r["more"]?.boolValue ?? false)
        } catch { throw translate(error, "list \(prefix)") }
    }

    public func update(_ key: String, value: [UInt8], expectedModRevision: Int64?) async throws -> Int64 {
        let put: JSONValue = ["request_put": ["key": etcdKey(key), "value": .string(Data(value).base64EncodedString())]]
        let compare: JSONValue = expectedModRevision.map { ["key": etcdKey(key), "target": "MOD", "result": "EQUAL", "mod_revision": .int($0)] }
            ?? ["key": etcdKey(key), "target": "CREATE", "result": "GREATER", "create_revision": 0]
        do {
            let r = try await txn(key, compare: compare, success: put)
            if r.ok { return Self.int(r.response["header"]?["revision"]) }
            guard let now = current(in: r.response) else { throw StoreError(.notFound, "\(key) not found") }
            throw StoreError(.conflict(currentRevision: now.modRevision), "\(key) was modified (now at revision \(now.modRevision))")
        } catch let e as StoreError where e.code == .io && e.message.contains("outcome is unknown") {
            if let kv = try await get(key), kv.value == value, kv.modRevision != expectedModRevision { return kv.modRevision }
            throw e
        } catch { throw translate(error, "update \(key)") }
    }

    public func delete(_ key: String, expectedModRevision: Int64?) async throws -> (previous: KeyValue, revision: Int64) {
        let del: JSONValue = ["request_delete_range": ["key": etcdKey(key), "prev_kv": true]]
        let compare: JSONValue = expectedModRevision.map { ["key": etcdKey(key), "target": "MOD", "result": "EQUAL", "mod_revision": .int($0)] }
            ?? ["key": etcdKey(key), "target": "CREATE", "result": "GREATER", "create_revision": 0]
        do {
            let r = try await txn(key, compare: compare, success: del)
            if r.ok, let prev = r.response["responses"]?.arrayValue?.first?["response_delete_range"]?["prev_kvs"]?.arrayValue?.first {
                return (keyValue(prev), Self.int(r.response["header"]?["revision"]))
            }
            guard let now = current(in: r.response) else { throw StoreError(.notFound, "\(key) not found") }
            throw StoreError(.conflict(currentRevision: now.modRevision), "\(key) was modified (now at revision \(now.modRevision))")
        } catch { throw translate(error, "delete \(key)") }
    }

    func revisionNow() throws -> Int64 {
        do {
            let r = try call("/v3/kv/range", ["key": etcdKey(""), "count_only": true], idempotent: true)
            return Self.int(r["header"]?["revision"])
        } catch { throw translate(error, "etcd revision") }
    }

    public func currentRevision() async throws -> Int64 {
        try await workers.run { [self] in try revisionNow() }
    }

    public func compact(upTo revision: Int64) async throws {
        do { _ = try await request("/v3/kv/compaction", ["revision": .int(revision)], idempotent: true) }
        catch let e as EtcdFailure where e.message.contains("compacted") {}   // someone (another master) got there first
        catch { throw translate(error, "compact to \(revision)") }
        raiseCacheFloor(revision)
    }

    /// Watches from before a compaction get 410 from the cache too.
    private func raiseCacheFloor(_ revision: Int64) {
        lock.lock(); historyFloor = max(historyFloor, revision); lock.unlock()
    }

    /// etcd's compaction point: a watch from revision 1 is refused with it.
    func compactRevision() -> Int64 {
        let cancel = TransferCancel()
        // (Nothing compacted: the first events end it.)
        do { try etcdWatch(prefix: "", from: 1, cancel: cancel) { events, progress in if !events.isEmpty || progress != nil { cancel.cancel() } } }
        catch let e as StoreError { if case .compacted(let c) = e.code { return c } }
        catch {}
        return 0
    }

    // MARK: watch

    public func watch(prefix: String, fromRevision: Int64) async throws -> AsyncThrowingStream<WatchEvent, Error> {
        if let cached = watchFromCache(prefix: prefix, fromRevision: fromRevision) { return cached }
        // Older than the cache. A read at fromRevision fails once it was compacted: say so now, as
        // the other backends do, rather than in the stream.
        do { _ = try await request("/v3/kv/range", ["key": etcdKey(prefix), "revision": .int(fromRevision), "count_only": true], idempotent: true) }
        catch let e as EtcdFailure where e.message.contains("compacted") {
            let at = try await workers.run { [self] in compactRevision() }
            throw StoreError(.compacted(compactRevision: at), "watch from revision \(fromRevision): compacted (to \(at))")
        } catch { throw translate(error, "watch \(prefix)") }
        // Older than the cache: an etcd watch of its own (etcd says 410 if it was compacted).
        let (stream, continuation) = AsyncThrowingStream<WatchEvent, Error>.makeStream(bufferingPolicy: .bufferingOldest(10_000))
        let cancel = TransferCancel()
        continuation.onTermination = { _ in cancel.cancel() }
        Thread.detachNewThread { [self] in
            var next = fromRevision + 1
            while !cancel.isCancelled {
                do {
                    try etcdWatch(prefix: prefix, from: next, cancel: cancel) { events, _ in
                        for e in events {
                            next = e.revision + 1
                            if case .terminated = continuation.yield(e) { cancel.cancel() }
                        }
                    }
                } catch let e as StoreError where e.code != .io {
                    continuation.finish(throwing: e)
                    return
                } catch {
                    Thread.sleep(forTimeInterval: 0.2)   // a member went away: resume on another from `next`
                }
            }
            continuation.finish()
        }
        return stream
    }

    /// A watch the cache can serve: what it holds after fromRevision, then live events (nil when
    /// fromRevision is older than the cache).
    private func watchFromCache(prefix: String, fromRevision: Int64) -> AsyncThrowingStream<WatchEvent, Error>? {
        lock.lock(); defer { lock.unlock() }
        guard fromRevision >= historyFloor else { return nil }
        let (stream, id) = hub.subscribe(prefix: prefix)
        var i = historyHead
        for _ in 0..<history.count {
            let e = history[i % history.count]
            i += 1
            if e.revision > fromRevision && e.key.hasPrefix(prefix) && !hub.send(e, to: id) { break }
        }
        hub.setFloor(id, max(fromRevision, lastSeen))
        return stream
    }

    /// Events as etcd's watch delivers them (and progress notifications: empty with a revision),
    /// until the stream ends or is cancelled. Throws `compacted` when `from` is no longer there.
    func etcdWatch(prefix: String, from: Int64, cancel: TransferCancel,
                onEvents: @escaping ([WatchEvent], _ progress: Int64?) -> Void) throws {
        let body: JSONValue = ["create_request": ["key": etcdKey(prefix), "range_end": etcdRangeEnd(prefix),
                                                  "start_revision": .int(from), "prev_kv": true, "progress_notify": true]]
        lock.lock(); let index = preferred; lock.unlock()
        let endpoint = options.endpoints[index % options.endpoints.count]
        var pending: [UInt8] = []
        var failure: Error?
        do {
            let r = try Transfer.perform("POST", endpoint + "/v3/watch", headers: ["Content-Type: application/json", "Expect:"],
                                         body: body.serialized(), tls: options.tls, longLived: true, connectTimeout: 2, pool: nil,
                                         cancel: cancel) { bytes in
                pending.append(contentsOf: bytes)
                while let nl = pending.firstIndex(of: 0x0a) {
                    let line = Array(pending[..<nl])
                    pending.removeSubrange(...nl)
                    guard let message = try? JSONValue.parse(line), let result = message["result"] else { continue }
                    let watchEvent = self.watchEvent
                    let compacted = Self.int(result["compact_revision"])
                    if compacted > 0 {
                        failure = StoreError(.compacted(compactRevision: compacted), "watch from revision \(from): etcd compacted to \(compacted)")
                        throw failure!
                    }
                    if result["canceled"]?.boolValue == true {
                        failure = StoreError(.io, "etcd cancelled the watch: \(result["cancel_reason"]?.stringValue ?? "")")
                        throw failure!
                    }
                    let events = (result["events"]?.arrayValue ?? []).map(watchEvent)
                    let isProgress = events.isEmpty && result["created"]?.boolValue != true
                    onEvents(events, isProgress ? Self.int(result["header"]?["revision"]) : nil)
                }
                if cancel.isCancelled { throw CancellationError() }
            }
            if r.status != 200 { throw StoreError(.io, "etcd watch on \(endpoint): HTTP \(r.status)") }
        } catch is CancellationError {
            return
        } catch {
            throw failure ?? error
        }
        // The member closed the stream (it is going away): the caller resumes elsewhere.
        if !cancel.isCancelled {
            lock.lock(); preferred = (index + 1) % options.endpoints.count; lock.unlock()
            throw StoreError(.io, "etcd watch stream on \(endpoint) ended")
        }
    }

    func watchEvent(_ e: JSONValue) -> WatchEvent {
        let kv = keyValue(e["kv"] ?? .null)
        let previous = e["prev_kv"].map(keyValue)
        if e["type"]?.stringValue == "DELETE" {
            return .delete(previous: previous ?? KeyValue(key: kv.key, value: [], createRevision: 0, modRevision: 0), revision: kv.modRevision)
        }
        return .put(kv, previous: previous)
    }

    /// One stretch of the cache's etcd watch over every key: it resumes after the last revision
    /// seen whenever the stream breaks (on another member if need be); losing history to
    /// compaction while away closes every watcher with 410, as an etcd watch would. False once
    /// the store is closed.
    private func cacheWatchRound() -> Bool {
        lock.lock(); let from = lastSeen + 1, done = closed; lock.unlock()
        if done { return false }
        do {
            try etcdWatch(prefix: "", from: from, cancel: cacheCancel) { [self] events, progress in
                lock.lock()
                for e in events { record(e) }
                if let progress, progress > lastSeen { lastSeen = progress }
                if !events.isEmpty { hub.publish(events) }
                lock.unlock()
            }
        } catch let e as StoreError where e.code != .io {
            if case .compacted = e.code {
                log("etcd: the watch cache missed events compacted away; watchers must relist")
                let now = (try? revisionNow()) ?? from
                lock.lock()
                history = []; historyHead = 0
                historyFloor = now; lastSeen = now
                hub.failAll(e)
                lock.unlock()
            }
        } catch {
            if !cacheCancel.isCancelled { log("etcd: watch cache: \(error); resuming from revision \(from)") }
            lock.lock()
            preferred = (preferred + 1) % options.endpoints.count
            lock.unlock()
            Thread.sleep(forTimeInterval: 0.1)
        }
        return true
    }

    /// Adds one event to the ring (under lock).
    private func record(_ e: WatchEvent) {
        if history.count < options.historyLimit {
            history.append(e)
        } else {
            historyFloor = history[historyHead].revision
            history[historyHead] = e
            historyHead = (historyHead + 1) % history.count
        }
        if e.revision > lastSeen { lastSeen = e.revision }
    }
}
