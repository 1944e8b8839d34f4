// The embedded backend: SQLite as a single revision log, the shape kine gives k3s.
//
//   kine(id = revision, name, created, deleted, create_revision, prev_revision, value, old_value)
//
// Every write appends one row (its id is the new revision); the newest row of a name is its
// current state (deleted = 1: a tombstone). Watches replay rows after a revision, then follow
// the in-process fan-out of committed writes. WAL + synchronous=FULL: an acknowledged write
// survives kill -9 and power loss.
//
// Group commit: writes queue up; one drain task applies everything queued in one transaction
// and runs its COMMIT (the fsync) on a separate thread, so writes arriving meanwhile form the
// next batch instead of each paying a whole fsync. Reads use a second connection, which in WAL
// mode sees exactly the committed state and never waits for the writer.
import CSQLite
import Dispatch

public actor SQLiteStore: KeyValueStore {
    private let writer: SQLiteConnection
    private let reader: SQLiteConnection
    private let path: String
    /// The last revision assigned (includes a batch being committed).
    private var revision: Int64 = 0
    /// The last revision durably committed and visible to reads.
    private var committedRevision: Int64 = 0
    private var compactRevision: Int64 = 0
    private let hub = WatchHub()

    private enum Op {
        case create(String, [UInt8])
        case update(String, [UInt8], expected: Int64?)
        case delete(String, expected: Int64?)
        case compact(Int64)
    }
    private enum OpResult { case revision(Int64), deleted(KeyValue, Int64), compacted }
    private struct Pending {
        let op: Op
        let continuation: CheckedContinuation<OpResult, Error>
    }
    private var pending: [Pending] = []
    private var draining = false
    private let commitQueue = DispatchQueue(label: "skiff.store.commit")

    public init(path: String) throws {
        self.path = path
        writer = try SQLiteConnection(path: path, setup: """
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
            """)
        reader = try SQLiteConnection(path: path, setup: "PRAGMA busy_timeout=5000; PRAGMA query_only=1;")
        revision = writer.scalar("SELECT seq FROM sqlite_sequence WHERE name = 'kine'") ?? 0
        committedRevision = revision
        compactRevision = writer.scalar("SELECT value FROM meta WHERE key = 'compact_revision'") ?? 0
    }

    // MARK: KeyValueStore writes (queued, group-committed)

    public func create(_ key: String, value: [UInt8]) async throws -> Int64 {
        guard case .revision(let r) = try await enqueue(.create(key, value)) else { throw StoreError(.io, "unexpected result") }
        return r
    }

    public func update(_ key: String, value: [UInt8], expectedModRevision: Int64?) async throws -> Int64 {
        guard case .revision(let r) = try await enqueue(.update(key, value, expected: expectedModRevision)) else {
            throw StoreError(.io, "unexpected result")
        }
        return r
    }

    public func delete(_ key: String, expectedModRevision: Int64?) async throws -> (previous: KeyValue, revision: Int64) {
        guard case .deleted(let kv, let r) = try await enqueue(.delete(key, expected: expectedModRevision)) else {
            throw StoreError(.io, "unexpected result")
        }
        return (kv, r)
    }

    public func compact(upTo r: Int64) async throws {
        guard r <= committedRevision else { throw StoreError(.invalid, "cannot compact to \(r): current revision is \(committedRevision)") }
        guard r > compactRevision else { return }
        _ = try await enqueue(.compact(r))
    }

    private func enqueue(_ op: Op) async throws -> OpResult {
        try await withCheckedThrowingContinuation { continuation in
            pending.append(Pending(op: op, continuation: continuation))
            if !draining {
                draining = true
                Task { await self.drain() }
            }
        }
    }

    /// Commits batches until the queue is empty.
    private func drain() async {
        while !pending.isEmpty {
            let batch = pending
            pending = []
            let startRevision = revision
            var results: [Result<OpResult, Error>] = []
            var events: [WatchEvent] = []
            var newCompactRevision: Int64?
            do {
                try writer.exec("BEGIN IMMEDIATE", doing: "writing to")
                for p in batch {
                    do {
                        let (result, event) = try apply(p.op)
                        if let event { events.append(event) }
                        if case .compact(let r) = p.op { newCompactRevision = r }
                        results.append(.success(result))
                    } catch let e as StoreError where e.code != .io {
                        results.append(.failure(e))   // this write is refused; the batch goes on
                    }
                }
                try await commit()
            } catch {
                try? writer.exec("ROLLBACK", doing: "rolling back")
                revision = startRevision
                for p in batch { p.continuation.resume(throwing: error) }
                continue
            }
            committedRevision = revision
            if let r = newCompactRevision { compactRevision = r }
            if !events.isEmpty { hub.publish(events) }
            for (p, r) in zip(batch, results) { p.continuation.resume(with: r) }
        }
        draining = false
    }

    /// COMMIT (and its fsync) on the commit thread: the actor takes new writes and reads meanwhile.
    private func commit() async throws {
        let writer = self.writer
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            commitQueue.async {
                do { try writer.exec("COMMIT", doing: "committing to"); c.resume() } catch { c.resume(throwing: error) }
            }
        }
    }

    /// One write inside the open transaction; validation sees earlier writes of the same batch.
    private func apply(_ op: Op) throws -> (OpResult, WatchEvent?) {
        switch op {
        case .create(let key, let value):
            if let row = try latest(key, on: writer), !row.deleted {
                throw StoreError(.alreadyExists, "\(key) already exists")
            }
            let rev = revision + 1
            try insert(id: rev, key: key, created: true, deleted: false, createRevision: rev, prevRevision: 0, value: value, oldValue: nil)
            revision = rev
            return (.revision(rev), .put(KeyValue(key: key, value: value, createRevision: rev, modRevision: rev), previous: nil))
        case .update(let key, let value, let expected):
            guard let row = try latest(key, on: writer), !row.deleted else { throw StoreError(.notFound, "\(key) not found") }
            if let expected, expected != row.id {
                throw StoreError(.conflict(currentRevision: row.id), "\(key) was modified (revision \(row.id), expected \(expected))")
            }
            let rev = revision + 1
            try insert(id: rev, key: key, created: false, deleted: false, createRevision: row.createRevision, prevRevision: row.id,
                       value: value, oldValue: row.value)
            revision = rev
            return (.revision(rev), .put(KeyValue(key: key, value: value, createRevision: row.createRevision, modRevision: rev), previous: row.kv))
        case .delete(let key, let expected):
            guard let row = try latest(key, on: writer), !row.deleted else { throw StoreError(.notFound, "\(key) not found") }
            if let expected, expected != row.id {
                throw StoreError(.conflict(currentRevision: row.id), "\(key) was modified (revision \(row.id), expected \(expected))")
            }
            let rev = revision + 1
            // A tombstone keeps the deleted value, so a watch replay can report it.
            try insert(id: rev, key: key, created: false, deleted: true, createRevision: row.createRevision, prevRevision: row.id,
                       value: row.value, oldValue: nil)
            revision = rev
            return (.deleted(row.kv, rev), .delete(previous: row.kv, revision: rev))
        case .compact(let r):
            // Keep each name's newest row at or below r (its state then), unless it is a tombstone.
            try writer.exec("""
                DELETE FROM kine WHERE id <= \(r) AND id NOT IN (SELECT MAX(id) FROM kine WHERE id <= \(r) GROUP BY name);
                DELETE FROM kine WHERE id <= \(r) AND deleted = 1;
                INSERT INTO meta (key, value) VALUES ('compact_revision', \(r))
                  ON CONFLICT (key) DO UPDATE SET value = excluded.value;
                """, doing: "compacting")
            return (.compacted, nil)
        }
    }

    // MARK: reads (the reader connection: committed state only)

    public func get(_ key: String) throws -> KeyValue? {
        guard let row = try latest(key, on: reader), !row.deleted else { return nil }
        return row.kv
    }

    public func list(prefix: String, limit: Int?, continueAfter: String?, revision at: Int64?) throws -> ListResult {
        let readRevision = at ?? committedRevision
        try checkNotCompacted(readRevision)
        guard readRevision <= committedRevision else {
            throw StoreError(.invalid, "revision \(readRevision) is in the future (current \(committedRevision))")
        }
        let db = reader
        let s = try db.statement("""
            SELECT k.id, k.name, k.create_revision, k.value FROM kine k
            JOIN (SELECT MAX(id) AS id FROM kine WHERE name >= ?1 AND name < ?2 AND name > ?3 AND id <= ?4 GROUP BY name) m
              ON k.id = m.id
            WHERE k.deleted = 0 ORDER BY k.name LIMIT ?5
            """)
        db.bind(s, 1, prefix)
        db.bind(s, 2, prefixEnd(prefix))
        db.bind(s, 3, continueAfter ?? "")
        sqlite3_bind_int64(s, 4, readRevision)
        // One extra row tells whether there is more.
        sqlite3_bind_int64(s, 5, limit.map { Int64($0) + 1 } ?? -1)
        var items: [KeyValue] = []
        while try db.step(s) {
            items.append(KeyValue(key: db.text(s, 1), value: db.blob(s, 3), createRevision: sqlite3_column_int64(s, 2),
                                  modRevision: sqlite3_column_int64(s, 0)))
        }
        sqlite3_reset(s)
        var more = false
        if let limit, limit > 0, items.count > limit { items.removeLast(items.count - limit); more = true }
        return ListResult(items: items, revision: readRevision, more: more)
    }

    public func watch(prefix: String, fromRevision: Int64) throws -> AsyncThrowingStream<WatchEvent, Error> {
        try checkNotCompacted(fromRevision)
        // Subscribe, then replay committed history. A batch whose COMMIT finished but whose events
        // are not yet published can show up in both: the hub drops live events at or below the
        // replayed revision.
        let (stream, id) = hub.subscribe(prefix: prefix)
        let db = reader
        let s = try db.statement("""
            SELECT id, name, created, deleted, create_revision, prev_revision, value, old_value FROM kine
            WHERE id > ?1 AND name >= ?2 AND name < ?3 ORDER BY id
            """)
        sqlite3_bind_int64(s, 1, fromRevision)
        db.bind(s, 2, prefix)
        db.bind(s, 3, prefixEnd(prefix))
        var replayed = max(fromRevision, committedRevision)
        while try db.step(s) {
            let rev = sqlite3_column_int64(s, 0)
            let key = db.text(s, 1)
            let createRevision = sqlite3_column_int64(s, 4)
            let prevRevision = sqlite3_column_int64(s, 5)
            let event: WatchEvent
            if sqlite3_column_int64(s, 3) != 0 {
                event = .delete(previous: KeyValue(key: key, value: db.blob(s, 6), createRevision: createRevision, modRevision: prevRevision),
                                revision: rev)
            } else {
                let previous = prevRevision > 0
                    ? KeyValue(key: key, value: db.blob(s, 7), createRevision: createRevision, modRevision: prevRevision) : nil
                event = .put(KeyValue(key: key, value: db.blob(s, 6), createRevision: createRevision, modRevision: rev), previous: previous)
            }
            replayed = max(replayed, rev)
            if !hub.send(event, to: id) { break }
        }
        sqlite3_reset(s)
        hub.setFloor(id, replayed)
        return stream
    }

    public func currentRevision() -> Int64 { committedRevision }

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

    private func latest(_ key: String, on db: SQLiteConnection) throws -> Row? {
        let s = try db.statement("SELECT id, deleted, create_revision, value FROM kine WHERE name = ?1 ORDER BY id DESC LIMIT 1")
        db.bind(s, 1, key)
        defer { sqlite3_reset(s) }
        guard try db.step(s) else { return nil }
        return Row(id: sqlite3_column_int64(s, 0), key: key, deleted: sqlite3_column_int64(s, 1) != 0,
                   createRevision: sqlite3_column_int64(s, 2), value: db.blob(s, 3))
    }

    private func insert(id: Int64, key: String, created: Bool, deleted: Bool, createRevision: Int64, prevRevision: Int64,
                        value: [UInt8], oldValue: [UInt8]?) throws {
        let db = writer
        let s = try db.statement("""
            INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, value, old_value)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            """)
        sqlite3_bind_int64(s, 1, id)
        db.bind(s, 2, key)
        sqlite3_bind_int64(s, 3, created ? 1 : 0)
        sqlite3_bind_int64(s, 4, deleted ? 1 : 0)
        sqlite3_bind_int64(s, 5, createRevision)
        sqlite3_bind_int64(s, 6, prevRevision)
        db.bind(s, 7, value)
        if let oldValue { db.bind(s, 8, oldValue) } else { sqlite3_bind_null(s, 8) }
        defer { sqlite3_reset(s) }
        guard sqlite3_step(s) == SQLITE_DONE else {
            throw StoreError(.io, "writing \(key) to \(path): \(db.lastError)")
        }
    }

    private func checkNotCompacted(_ r: Int64) throws {
        guard r >= compactRevision else {
            throw StoreError(.compacted(compactRevision: compactRevision), "revision \(r) has been compacted (oldest is \(compactRevision))")
        }
    }
}
