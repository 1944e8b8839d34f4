// One SQLite connection with its cached prepared statements. Not thread-safe: its owner
// (SQLiteStore) uses each connection from one place at a time. A class so the handle and
// statements are finalized and closed when the store goes away (an actor `isolated deinit`
// trips a release-build compiler error, "circular reference", in modules that use the store).
import CSQLite

final class SQLiteConnection: @unchecked Sendable {
    let db: OpaquePointer
    let path: String
    private var statements: [String: OpaquePointer] = [:]

    init(path: String, setup: String) throws {
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "error \(rc)"
            if let handle { sqlite3_close_v2(handle) }
            throw StoreError(.io, "opening the store \(path): \(message)")
        }
        db = handle
        self.path = path
        var err: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, setup, nil, nil, &err) == SQLITE_OK else {
            let message = err.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(err)
            throw StoreError(.io, "initialising the store \(path): \(message)")
        }
    }

    deinit {
        for (_, s) in statements { sqlite3_finalize(s) }
        sqlite3_close_v2(db)
    }

    /// Runs SQL without results; the error names the store.
    func exec(_ sql: String, doing what: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &err) == SQLITE_OK else {
            let message = err.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(err)
            throw StoreError(.io, "\(what) \(path): \(message)")
        }
    }

    /// Prepared once per connection, then reused (reset + unbound).
    func statement(_ sql: String) throws -> OpaquePointer {
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

    func step(_ s: OpaquePointer) throws -> Bool {
        switch sqlite3_step(s) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw StoreError(.io, "reading \(path): \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func bind(_ s: OpaquePointer, _ i: Int32, _ text: String) {
        sqlite3_bind_text(s, i, text, -1, Self.transient)
    }

    func bind(_ s: OpaquePointer, _ i: Int32, _ bytes: [UInt8]) {
        if bytes.isEmpty { sqlite3_bind_zeroblob(s, i, 0); return }
        bytes.withUnsafeBytes { _ = sqlite3_bind_blob(s, i, $0.baseAddress, Int32($0.count), Self.transient) }
    }

    func text(_ s: OpaquePointer, _ i: Int32) -> String {
        guard let p = sqlite3_column_text(s, i) else { return "" }
        return String(cString: p)
    }

    func blob(_ s: OpaquePointer, _ i: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(s, i))
        guard n > 0, let p = sqlite3_column_blob(s, i) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }

    func scalar(_ sql: String) -> Int64? {
        var s: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &s, nil) == SQLITE_OK, let s else { return nil }
        defer { sqlite3_finalize(s) }
        return sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : nil
    }

    var lastError: String { String(cString: sqlite3_errmsg(db)) }
}
