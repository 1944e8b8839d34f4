// A revisioned key-value store with watch, shaped like etcd v3 so an etcd backend slots in later:
// every write gets the next global revision; keys carry create/mod revisions; watches replay
// history from a revision, then follow live writes; compaction drops superseded history.

public struct KeyValue: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    public var createRevision: Int64
    public var modRevision: Int64

    public init(key: String, value: [UInt8], createRevision: Int64, modRevision: Int64) {
        self.key = key; self.value = value; self.createRevision = createRevision; self.modRevision = modRevision
    }
}

public enum WatchEvent: Sendable, Equatable {
    /// A create or update; `previous` is the value it replaced (nil for a create).
    case put(KeyValue, previous: KeyValue?)
    /// A delete at `revision`; `previous` is the deleted value.
    case delete(previous: KeyValue, revision: Int64)

    public var revision: Int64 {
        switch self {
        case .put(let kv, _): return kv.modRevision
        case .delete(_, let r): return r
        }
    }

    public var key: String {
        switch self {
        case .put(let kv, _): return kv.key
        case .delete(let kv, _): return kv.key
        }
    }
}

public struct ListResult: Sendable, Equatable {
    public var items: [KeyValue]
    /// The revision the list was read at: pass it back to continue consistently, or to watch.
    public var revision: Int64
    /// True when `limit` cut the list: continue after the last item's key.
    public var more: Bool
}

public struct StoreError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: Sendable, Equatable {
        case notFound
        case alreadyExists
        /// The key's current mod revision differs from the expected one.
        case conflict(currentRevision: Int64)
        /// The requested revision is older than the compacted one (the API answers 410 Gone).
        case compacted(compactRevision: Int64)
        /// A watcher fell too far behind and was closed; it must re-list.
        case watcherTooSlow
        case invalid
        case io
    }
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The store protocol every backend (memory, SQLite, etcd) implements.
public protocol KeyValueStore: Sendable {
    /// Creates `key`; fails with `alreadyExists` if it exists. Returns the new revision.
    func create(_ key: String, value: [UInt8]) async throws -> Int64
    func get(_ key: String) async throws -> KeyValue?
    /// Keys starting with `prefix`, in key order, after `continueAfter`, at `revision`
    /// (nil: now). Reading an old revision fails with `compacted` once it was compacted.
    func list(prefix: String, limit: Int?, continueAfter: String?, revision: Int64?) async throws -> ListResult
    /// Compare-and-swap on the key's mod revision (nil: unconditional). Fails with `notFound`
    /// or `conflict`. Returns the new revision.
    func update(_ key: String, value: [UInt8], expectedModRevision: Int64?) async throws -> Int64
    /// Deletes `key` (optionally only at `expectedModRevision`); returns what was deleted and the revision.
    func delete(_ key: String, expectedModRevision: Int64?) async throws -> (previous: KeyValue, revision: Int64)
    /// Every event on keys under `prefix` after `fromRevision`, history first, then live.
    func watch(prefix: String, fromRevision: Int64) async throws -> AsyncThrowingStream<WatchEvent, Error>
    func currentRevision() async throws -> Int64
    /// Forgets history at and below `revision`; current values stay.
    func compact(upTo revision: Int64) async throws
}

/// The exclusive upper bound of keys under `prefix` (prefix with its last byte incremented).
func prefixEnd(_ prefix: String) -> String {
    var bytes = Array(prefix.utf8)
    while let last = bytes.last {
        if last < 0xff { bytes[bytes.count - 1] = last + 1; return String(decoding: bytes, as: UTF8.self) }
        bytes.removeLast()
    }
    return "\u{10FFFF}"
}
