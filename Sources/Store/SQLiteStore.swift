// The embedded backend: SQLite as a single revision log, the shape kine gives k3s.
//
//   kine(id = revision, name, created, deleted, create_revision, prev_revision, value, old_value)
//
// Every write appends one row (its id is the new revision); the newest row of a name is its
// current state (deleted = 1: a tombstone). Watches replay rows after a revision, then follow
// the in-process fan-out of committed writes. WAL + synchronous=FULL: an acknowledged write
// survives kill -9 and power loss. One actor is the single writer.
import CSQLite

public actor SQLiteStore: KeyValueStore {
    private let db: OpaquePointer
    private let path: String
    private let statements = StatementCache()
    private var revision: Int64 = 0
    private var compactRevision: Int64 = 0
    private let hub = WatchHub()

    public init(path: String) throws {
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "error \(rc)"
            if let handle { sqlite3_close_v2(handle) }
            throw StoreError(.io, "opening the store \(path): \(message)")
        }
        db = handle
        statements.connection = handle
        self.path = path
        let setup = """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=FULL;
            PRAGMA busy_timeout=5000;
            CREATE TABLE IF NOT EXISTS kine (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL,
                created INTEGER NOT NULL,
                deleted INTEGER NOT NULL,
                create_revision INTEGER NOT NULL,
                prev_revision INTEGER NOT NULL,
                value BLOB,
                old_value BLOB);
            CREATE INDEX IF NOT EXISTS kine_name_id ON kine (name, id);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            """
        var err: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, setup, nil, nil, &err) == SQLITE_OK else {
            let message = err.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(err)   // the statement cache closes the connection
            throw StoreError(.io, "initialising the store \(path): \(message)")
        }
        revision = Self.scalar(handle, "SELECT seq FROM sqlite_sequence WHERE name = 'kine'") ?? 0
        compactRevision = Self.scalar(handle, "SELECT value FROM meta WHERE key = 'compact_revision'") ?? 0
    }

    // MARK: KeyValueStore

    public func create(_ key: String, value: [UInt8]) throws -> Int64 {
        if let row = try latest(key), !row.deleted {
            throw StoreError(.alreadyExists, "\(key) already exists")
        }
        let rev = revision + 1
        try insert(id: rev, key: key, created: true, deleted: false, createRevision: rev, prevRevision: 0, value: value, oldValue: nil)
        commit(.put(KeyValue(key: key, value: value, createRevision: rev, modRevision: rev), previous: nil), revision: rev)
        return rev
    }

    public func get(_ key: String) throws -> KeyValue? {
        guard let row = try latest(key), !row.deleted else { return nil }
        return row.kv
    }

    public func list(prefix: String, limit: Int?, continueAfter: String?, revision at: Int64?) throws -> ListResult {
        let readRevision = at ?? revision
        try checkNotCompacted(readRevision)
        guard readRevision <= revision else { throw StoreError(.invalid, "revision \(readRevision) is in the future (current \(revision))") }
        let s = try statement("""
            SELECT k.id, k.name, k.create_revision, k.value FROM kine k
            JOIN (SELECT MAX(id) AS id FROM kine WHERE name >= ?1 AND name < ?2 AND name > ?3 AND id <= ?4 GROUP BY name) m
              ON k.id = m.id
            WHERE k.deleted = 0 ORDER BY k.name LIMIT ?5
            """)
        bind(s, 1, prefix)
        bind(s, 2, prefixEnd(prefix))
        bind(s, 3, continueAfter ?? "")
        sqlite3_bind_int64(s, 4, readRevision)
        // One extra row tells whether there is more.
        sqlite3_bind_int64(s, 5, limit.map { Int64($0) + 1 } ?? -1)
        var items: [KeyValue] = []
        while try step(s) {
            items.append(KeyValue(key: text(s, 1), value: blob(s, 3), createRevision: sqlite3_column_int64(s, 2),
                                  modRevision: sqlite3_column_int64(s, 0)))
        }
        var more = false
        if let limit, limit > 0, items.count > limit { items.removeLast(items.count - limit); more = true }
        return ListResult(items: items, revision: readRevision, more: more)
    }

    public func update(_ key: String, value: [UInt8], expectedModRevision: Int64?) throws -> Int64 {
        guard let row = try latest(key), !row.deleted else { throw StoreError(.notFound, "\(key) not found") }
        if let expected = expectedModRevision, expected != row.id {
            throw StoreError(.conflict(currentRevision: row.id), "\(key) was modified (revision \(row.id), expected \(expected))")
        }
        let rev = revision + 1
        try insert(id: rev, key: key, created: false, deleted: false, createRevision: row.createRevision, prevRevision: row.id,
                   value: value, oldValue: row.value)
        commit(.put(KeyValue(key: key, value: value, createRevision: row.createRevision, modRevision: rev), previous: row.kv), revision: rev)
        return rev
    }

    public func delete(_ key: String, expectedModRevision: Int64?) throws -> (previous: KeyValue, revision: Int64) {
        guard let row = try latest(key), !row.deleted else { throw StoreError(.notFound, "\(key) not found") }
        if let expected = expectedModRevision, expected != row.id {
            throw StoreError(.conflict(currentRevision: row.id), "\(key) was modified (revision \(row.id), expected \(expected))")
        }
        let rev = revision + 1
        // A tombstone keeps the deleted value, so a watch replay can report it.
        try insert(id: rev, key: key, created: false, deleted: true, createRevision: row.createRevision, prevRevision: row.id,
                   value: row.value, oldValue: nil)
        commit(.delete(previous: row.kv, revision: rev), revision: rev)
        return (row.kv, rev)
    }

    public func watch(prefix: String, fromRevision: Int64) throws -> AsyncThrowingStream<WatchEvent, Error> {
        try checkNotCompacted(fromRevision)
        // Subscribe, then replay history up to now, inside the actor: nothing slips in between.
        let (stream, id) = hub.subscribe(prefix: prefix)
        let s = try statement("""
            SELECT id, name, created, deleted, create_revision, prev_revision, value, old_value FROM kine
            WHERE id > ?1 AND name >= ?2 AND name < ?3 ORDER BY id
            """)
        sqlite3_bind_int64(s, 1, fromRevision)
        bind(s, 2, prefix)
        bind(s, 3, prefixEnd(prefix))
        while try step(s) {
            let rev = sqlite3_column_int64(s, 0)
            let key = text(s, 1)
            let createRevision = sqlite3_column_int64(s, 4)
            let prevRevision = sqlite3_column_int64(s, 5)
            let event: WatchEvent
            if sqlite3_column_int64(s, 3) != 0 {
                event = .delete(previous: KeyValue(key: key, value: blob(s, 6), createRevision: createRevision, modRevision: prevRevision),
                                revision: rev)
            } else {
                let previous = prevRevision > 0
                    ? KeyValue(key: key, value: blob(s, 7), createRevision: createRevision, modRevision: prevRevision) : nil
                event = .put(KeyValue(key: key, value: blob(s, 6), createRevision: createRevision, modRevision: rev), previous: previous)
            }
            if !hub.send(event, to: id) { break }
        }
        sqlite3_reset(s)
        return stream
    }

    public func currentRevision() -> Int64 { revision }

    public func compact(upTo r: Int64) throws {
        guard r <= revision else { throw StoreError(.invalid, "cannot compact to \(r): current revision is \(revision)") }
        guard r > compactRevision else { return }
        // Keep each name's newest row at or below r (its state then), unless it is a tombstone.
        let sql = """
            BEGIN;
            DELETE FROM kine WHERE id <= \(r) AND id NOT IN (SELECT MAX(id) FROM kine WHERE id <= \(r) GROUP BY name);
            DELETE FROM kine WHERE id <= \(r) AND deleted = 1;
            INSERT INTO meta (key, value) VALUES ('compact_revision', \(r))
              ON CONFLICT (key) DO UPDATE SET value = excluded.value;
            COMMIT;
            """
        var err: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &err) == SQLITE_OK else {
            let message = err.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(err)
            sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            throw StoreError(.io, "compacting \(path) to \(r): \(message)")
        }
        compactRevision = r
    }

    /// Closes every watch (e.g. on shutdown).
    public func closeWatches() { hub.closeAll() }

    // MARK: rows

    private struct Row {
        var id: Int64
        var key: String
        var deleted: Bool
        var createRevision: Int64
        var value: [UInt8]
        var kv: KeyValue { KeyValue(key: key, value: value, createRevision: createRevision, modRevision: id) }
    }

    private func latest(_ key: String) throws -> Row? {
        let s = try statement("SELECT id, deleted, create_revision, value FROM kine WHERE name = ?1 ORDER BY id DESC LIMIT 1")
        bind(s, 1, key)
        defer { sqlite3_reset(s) }
        guard try step(s) else { return nil }
        return Row(id: sqlite3_column_int64(s, 0), key: key, deleted: sqlite3_column_int64(s, 1) != 0,
                   createRevision: sqlite3_column_int64(s, 2), value: blob(s, 3))
    }

    private func insert(id: Int64, key: String, created: Bool, deleted: Bool, createRevision: Int64, prevRevision: Int64,
                        value: [UInt8], oldValue: [UInt8]?) throws {
        let s = try statement("""
            INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, value, old_value)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            """)
        sqlite3_bind_int64(s, 1, id)
        bind(s, 2, key)
        sqlite3_bind_int64(s, 3, created ? 1 : 0)
        sqlite3_bind_int64(s, 4, deleted ? 1 : 0)
        sqlite3_bind_int64(s, 5, createRevision)
        sqlite3_bind_int64(s, 6, prevRevision)
        bind(s, 7, value)
        if let oldValue { bind(s, 8, oldValue) } else { sqlite3_bind_null(s, 8) }
        defer { sqlite3_reset(s) }
        guard sqlite3_step(s) == SQLITE_DONE else {
            throw StoreError(.io, "writing \(key) to \(path): \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    private func commit(_ event: WatchEvent, revision rev: Int64) {
        revision = rev
        hub.publish([event])
    }

    private func checkNotCompacted(_ r: Int64) throws {
        guard r >= compactRevision else {
            throw StoreError(.compacted(compactRevision: compactRevision), "revision \(r) has been compacted (oldest is \(compactRevision))")
        }
    }

    // MARK: SQLite plumbing

    /// Prepared once per connection, then reused (reset + unbound).
    private func statement(_ sql: String) throws -> OpaquePointer {
        if let s = statements[sql] {
            sqlite3_reset(s)
            sqlite3_clear_bindings(s)
            return s
        }
        var s: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &s, nil) == SQLITE_OK, let s else {
            throw StoreError(.io, "preparing a statement on \(path): \(String(cString: sqlite3_errmsg(db)))")
        }
        statements[sql] = s
        return s
    }

    private func step(_ s: OpaquePointer) throws -> Bool {
        switch sqlite3_step(s) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw StoreError(.io, "reading \(path): \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private func bind(_ s: OpaquePointer, _ i: Int32, _ text: String) {
        sqlite3_bind_text(s, i, text, -1, Self.transient)
    }

    private func bind(_ s: OpaquePointer, _ i: Int32, _ bytes: [UInt8]) {
        if bytes.isEmpty { sqlite3_bind_zeroblob(s, i, 0); return }
        bytes.withUnsafeBytes { _ = sqlite3_bind_blob(s, i, $0.baseAddress, Int32($0.count), Self.transient) }
    }

    private func text(_ s: OpaquePointer, _ i: Int32) -> String {
        guard let p = sqlite3_column_text(s, i) else { return "" }
        return String(cString: p)
    }

    private func blob(_ s: OpaquePointer, _ i: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(s, i))
        guard n > 0, let p = sqlite3_column_blob(s, i) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }

    private static func scalar(_ db: OpaquePointer, _ sql: String) -> Int64? {
        var s: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &s, nil) == SQLITE_OK, let s else { return nil }
        defer { sqlite3_finalize(s) }
        return sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : nil
    }
}

/// Prepared statements by SQL, and the connection they belong to: finalized and closed when
/// the store goes away. (A class, not the actor's deinit: `isolated deinit` trips a release-build
/// compiler error, "circular reference", in modules that use the store.)
final class StatementCache: @unchecked Sendable {
    private var map: [String: OpaquePointer] = [:]
    var connection: OpaquePointer?
    subscript(sql: String) -> OpaquePointer? {
        get { map[sql] }
        set { map[sql] = newValue }
    }
    deinit {
        for (_, s) in map { sqlite3_finalize(s) }
        if let connection { sqlite3_close_v2(connection) }
    }
}
