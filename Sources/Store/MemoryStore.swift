// The in-memory backend: the reference semantics for the conformance suite and for unit tests of
// logic above the store. Not durable.

public actor MemoryStore: KeyValueStore {
    private var revision: Int64 = 0
    private var compactRevision: Int64 = 0
    private var current: [String: KeyValue] = [:]
    /// Every event after `compactRevision`, oldest first.
    private var log: [WatchEvent] = []
    private let hub = WatchHub()

    public init() {}

    public func create(_ key: String, value: [UInt8]) throws -> Int64 {
        guard current[key] == nil else { throw StoreError(.alreadyExists, "\(key) already exists") }
        revision += 1
        let kv = KeyValue(key: key, value: value, createRevision: revision, modRevision: revision)
        commit(.put(kv, previous: nil))
        return revision
    }

    public func get(_ key: String) -> KeyValue? { current[key] }

    public func list(prefix: String, limit: Int?, continueAfter: String?, revision at: Int64?) throws -> ListResult {
        let readRevision = at ?? revision
        guard readRevision >= compactRevision else {
            throw StoreError(.compacted(compactRevision: compactRevision), "revision \(readRevision) has been compacted (oldest is \(compactRevision))")
        }
        guard readRevision <= revision else { throw StoreError(.invalid, "revision \(readRevision) is in the future (current \(revision))") }
        let state = readRevision == revision ? current : stateAt(readRevision)
        var keys = state.keys.filter { $0.hasPrefix(prefix) }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        if let after = continueAfter { keys = keys.filter { Array(after.utf8).lexicographicallyPrecedes(Array($0.utf8)) } }
        var more = false
        if let limit, limit > 0, keys.count > limit { keys = Array(keys.prefix(limit)); more = true }
        return ListResult(items: keys.compactMap { state[$0] }, revision: readRevision, more: more)
    }

    public func update(_ key: String, value: [UInt8], expectedModRevision: Int64?) throws -> Int64 {
        guard let old = current[key] else { throw StoreError(.notFound, "\(key) not found") }
        if let expected = expectedModRevision, expected != old.modRevision {
            throw StoreError(.conflict(currentRevision: old.modRevision), "\(key) was modified (revision \(old.modRevision), expected \(expected))")
        }
        revision += 1
        commit(.put(KeyValue(key: key, value: value, createRevision: old.createRevision, modRevision: revision), previous: old))
        return revision
    }

    public func delete(_ key: String, expectedModRevision: Int64?) throws -> (previous: KeyValue, revision: Int64) {
        guard let old = current[key] else { throw StoreError(.notFound, "\(key) not found") }
        if let expected = expectedModRevision, expected != old.modRevision {
            throw StoreError(.conflict(currentRevision: old.modRevision), "\(key) was modified (revision \(old.modRevision), expected \(expected))")
        }
        revision += 1
        commit(.delete(previous: old, revision: revision))
        return (old, revision)
    }

    public func watch(prefix: String, fromRevision: Int64) throws -> AsyncThrowingStream<WatchEvent, Error> {
        guard fromRevision >= compactRevision else {
            throw StoreError(.compacted(compactRevision: compactRevision), "revision \(fromRevision) has been compacted (oldest is \(compactRevision))")
        }
        // Subscribing and replaying happen inside the actor: no write can slip in between.
        let (stream, id) = hub.subscribe(prefix: prefix)
        for e in log where e.revision > fromRevision && e.key.hasPrefix(prefix) {
            if !hub.send(e, to: id) { break }
        }
        return stream
    }

    public func currentRevision() -> Int64 { revision }

    public func compact(upTo r: Int64) throws {
        guard r <= revision else { throw StoreError(.invalid, "cannot compact to \(r): current revision is \(revision)") }
        guard r > compactRevision else { return }
        log.removeAll { $0.revision <= r }
        compactRevision = r
    }

    private func commit(_ e: WatchEvent) {
        switch e {
        case .put(let kv, _): current[kv.key] = kv
        case .delete(let prev, _): current[prev.key] = nil
        }
        log.append(e)
        hub.publish([e])
    }

    /// The state at an older revision: undo later events, newest first.
    private func stateAt(_ r: Int64) -> [String: KeyValue] {
        var state = current
        for e in log.reversed() where e.revision > r {
            switch e {
            case .put(let kv, let prev): state[kv.key] = prev
            case .delete(let prev, _): state[prev.key] = prev
            }
        }
        return state
    }
}
