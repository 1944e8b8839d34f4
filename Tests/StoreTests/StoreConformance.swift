// One suite every Store backend must pass, run against each of them unchanged.
import Foundation
import Testing
import TestSupport
@testable import Store

enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, sqlite, etcd
    var testDescription: String { rawValue }

    /// A fresh, empty store and the directory to remove afterwards. etcd: a real one-member
    /// cluster of its own (revisions are global, so stores can't share one); removing the
    /// directory stops it.
    func make() throws -> (store: any KeyValueStore, dir: String?) {
        switch self {
        case .memory: return (MemoryStore(), nil)
        case .sqlite:
            let dir = try TestEnv.makeTempDir("store")
            return (try SQLiteStore(path: dir + "/state.db"), dir)
        case .etcd:
            let etcd = try EtcdCluster(size: 1)
            return (try EtcdStore(options: .init(endpoints: etcd.endpoints)), etcd.dir)
        }
    }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Collects `count` events from a stream (with a deadline, so a missing event fails instead of hanging).
func collect(_ stream: AsyncThrowingStream<WatchEvent, Error>, count: Int, seconds: Double = 5) async throws -> [WatchEvent] {
    try await withThrowingTaskGroup(of: [WatchEvent].self) { group in
        group.addTask {
            var out: [WatchEvent] = []
            for try await e in stream {
                out.append(e)
                if out.count == count { break }
            }
            return out
        }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            throw StoreError(.io, "timed out waiting for \(count) watch events")
        }
        let first = try await group.next() ?? []
        group.cancelAll()
        return first
    }
}

@Suite struct StoreConformanceTests {
    @Test(arguments: Backend.allCases)
    func createGetAndDuplicates(backend: Backend) async throws {
        let (s, dir) = try backend.make()
        defer { dir.map { try? FileManager.default.removeItem(atPath: $0) } }
        let r1 = try await s.create("/pods/default/a", value: bytes("A"))
        let r2 = try await s.create("/pods/default/b", value: bytes("B"))
        #expect(r2 == r1 + 1)
        let a = try await s.get("/pods/default/a")
        #expect(a == KeyValue(key: "/pods/default/a", value: bytes("A"), createRevision: r1, modRevision: r1))
        #expect(try await s.get("/pods/default/zz") == nil)
        await #expect(throws: StoreError.self) { try await s.create("/pods/default/a", value: bytes("again")) }
        #expect(try await s.currentRevision() == r2)
        // Empty values are values.
        let r3 = try await s.create("/empty", value: [])
        #expect(try await s.get("/empty")?.value == [])
        #expect(r3 == r2 + 1)
    }

    @Test(arguments: Backend.allCases)
    func compareAndSwap(backend: Backend) async throws {
        let (s, dir) = try backend.make()
        defer { dir.map { try? FileManager.default.removeItem(atPath: $0) } }
        let created = try await s.create("/k", value: bytes("1"))
        let updated = try await s.update("/k", value: bytes("2"), expectedModRevision: created)
        let kv = try await s.get("/k")
        #expect(kv?.value == bytes("2") && kv?.createRevision == created && kv?.modRevision == updated)
        do {
            _ = try await s.update("/k", value: bytes("stale"), expectedModRevision: created)
            Issue.record("a stale revision must conflict")
        } catch let e as StoreError {
            #expect(e.code == .conflict(currentRevision: updated))
        }
        #expect(try await s.get("/k")?.value == bytes("2"))
        _ = try await s.update("/k", value: bytes("3"), expectedModRevision: nil)
        await #expect(throws: StoreError.self) { try await s.update("/missing", value: [], expectedModRevision: nil) }
    }

    @Test(arguments: Backend.allCases)
    func deleteAndRecreate(backend: Backend) async throws {
        let (s, dir) = try backend.make()
        defer { dir.map { try? FileManager.default.removeItem(atPath: $0) } }
        let c = try await s.create("/k", value: bytes("v"))
        await #expect(throws: StoreError.self) { try await s.delete("/k", expectedModRevision: c + 100) }
        let (prev, rev) = try await s.delete("/k", expectedModRevision: c)
        #expect(prev.value == bytes("v") && rev == c + 1)
        #expect(try await s.get("/k") == nil)
        await #expect(throws: StoreError.self) { try await s.delete("/k", expectedModRevision: nil) }
        let again = try await s.create("/k", value: bytes("new"))
        #expect(try await s.get("/k")?.createRevision == again)
    }

    @Test(arguments: Backend.allCases)
    func listPrefixesLimitsContinueAndSnapshots(backend: Backend) async throws {
        let (s, dir) = try backend.make()
        defer { dir.map { try? FileManager.default.removeItem(atPath: $0) } }
        for k in ["/pods/default/a", "/pods/default/b", "/pods/default/c", "/pods/default-x/z", "/pods/kube-system/q", "/services/default/a"] {
            _ = try await s.create(k, value: bytes(k))
        }
        let all = try await s.list(prefix: "/pods/default/", limit: nil, continueAfter: nil, revision: nil)
        #expect(all.items.map(\.key) == ["/pods/default/a", "/pods/default/b", "/pods/default/c"])
        #expect(!all.more)
        let page1 = try await s.list(prefix: "/pods/", limit: 2, continueAfter: nil, revision: nil)
        #expect(page1.items.map(\.key) == ["/pods/default-x/z", "/pods/default/a"])
        #expect(page1.more)
        // Writes between pages don't show up when continuing at the first page's revision.
        _ = try await s.create("/pods/default/b2", value: [])
        _ = try await s.delete("/pods/default/c", expectedModRevision: nil)
        let page2 = try await s.list(prefix: "/pods/", limit: 2, continueAfter: page1.items.last?.key, revision: page1.revision)
        #expect(page2.items.map(\.key) == ["/pods/default/b", "/pods/default/c"])
        #expect(page2.more)
        let page3 = try await s.list(prefix: "/pods/", limit: 2, continueAfter: page2.items.last?.key, revision: page1.revision)
        #expect(page3.items.map(\.key) == ["/pods/kube-system/q"])
        #expect(!page3.more)
        let now = try await s.list(prefix: "/pods/default/", limit: nil, continueAfter: nil, revision: nil)
        #expect(now.items.map(\.key) == ["/pods/default/a", "/pods/default/b", "/pods/default/b2"])
        await #expect(throws: StoreError.self) { try await s.list(prefix: "/", limit: nil, continueAfter: nil, revision: now.revision + 5) }
    }

    @Test(arguments: Backend.allCases)
    func watchReplaysHistoryThenFollowsLiveWrites(backend: Backend) async throws {
        let (s, dir) = try backend.make()
        defer { dir.map { try? FileManager.default.removeItem(atPath: $0) } }
        let r1 = try await s.create("/pods/default/a", value: bytes("1"))
        _ = try await s.create("/other/x", value: bytes("ignored"))
        let r3 = try await s.update("/pods/default/a", value: bytes("2"), expectedModRevision: r1)
        let stream = try await s.watch(prefix: "/pods/", fromRevision: r1)   // events after r1
        let (_, r4) = try await s.delete("/pods/default/a", expectedModRevision: nil)
        let r5 = try await s.create("/pods/default/b", value: bytes("b"))
        let events = try await collect(stream, count: 3)
        #expect(events.map(\.revision) == [r3, r4, r5])
        #expect(events[0] == .put(KeyValue(key: "/pods/default/a", value: bytes("2"), createRevision: r1, modRevision: r3),
                                  previous: KeyValue(key: "/pods/default/a", value: bytes("1"), createRevision: r1, modRevision: r1)))
        #expect(events[1] == .delete(previous: KeyValue(key: "/pods/default/a", value: bytes("2"), createRevision: r1, modRevision: r3),
                                     revision: r4))
        #expect(events[2] == .put(KeyValue(key: "/pods/default/b", value: bytes("b"), createRevision: r5, modRevision: r5), previous: nil))
    }

    @Test(arguments: Backend.allCases)
    func concurrentWritersAndAWatcherSeeEveryRevisionOnce(backend: Backend) async throws {
        let (s, dir) = try backend.make()
        defer { dir.map { try? FileManager.default.removeItem(atPath: $0) } }
        let start = try await s.currentRevision()
        let stream = try await s.watch(prefix: "/c/", fromRevision: start)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<8 {
                group.addTask { for i in 0..<25 { _ = try await s.create("/c/\(w)/\(i)", value: bytes("\(i)")) } }
            }
            try await group.waitForAll()
        }
        let events = try await collect(stream, count: 200)
        #expect(events.map(\.revision) == Array((start + 1)...(start + 200)))
        #expect(Set(events.map(\.key)).count == 200)
    }

    @Test(arguments: Backend.allCases)
    func compactionForgetsHistoryButKeepsState(backend: Backend) async throws {
        let (s, dir) = try backend.make()
        defer { dir.map { try? FileManager.default.removeItem(atPath: $0) } }
        let r1 = try await s.create("/k/a", value: bytes("1"))
        let r2 = try await s.update("/k/a", value: bytes("2"), expectedModRevision: r1)
        _ = try await s.create("/k/gone", value: [])
        _ = try await s.delete("/k/gone", expectedModRevision: nil)
        let r5 = try await s.create("/k/b", value: bytes("b"))
        try await s.compact(upTo: r5 - 1)
        do {
            _ = try await s.watch(prefix: "/k/", fromRevision: r1)
            Issue.record("watching from a compacted revision must fail")
        } catch let e as StoreError {
            #expect(e.code == .compacted(compactRevision: r5 - 1))
        }
        await #expect(throws: StoreError.self) { try await s.list(prefix: "/k/", limit: nil, continueAfter: nil, revision: r2) }
        let now = try await s.list(prefix: "/k/", limit: nil, continueAfter: nil, revision: nil)
        #expect(now.items.map(\.key) == ["/k/a", "/k/b"])
        #expect(now.items[0].modRevision == r2)
        // The compaction point itself is still readable and watchable.
        let stream = try await s.watch(prefix: "/k/", fromRevision: r5 - 1)
        #expect(try await collect(stream, count: 1).map(\.revision) == [r5])
        await #expect(throws: StoreError.self) { try await s.compact(upTo: r5 + 10) }
    }
}

@Suite struct SQLiteStoreTests {
    @Test func reopeningKeepsDataRevisionsAndCompaction() async throws {
        let dir = try TestEnv.makeTempDir("store-reopen")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var last: Int64 = 0
        do {
            let s = try SQLiteStore(path: dir + "/state.db")
            for i in 0..<10 { last = try await s.create("/k/\(i)", value: bytes("\(i)")) }
            try await s.compact(upTo: 3)
        }
        let s = try SQLiteStore(path: dir + "/state.db")
        #expect(try await s.currentRevision() == last)
        #expect(try await s.list(prefix: "/k/", limit: nil, continueAfter: nil, revision: nil).items.count == 10)
        #expect(try await s.create("/k/new", value: []) == last + 1)
        await #expect(throws: StoreError.self) { try await s.watch(prefix: "/", fromRevision: 2) }
    }

    @Test func anUnwritableDatabaseIsAClearError() {
        do {
            _ = try SQLiteStore(path: "/proc/no-such-dir/state.db")
            Issue.record("opening must fail")
        } catch let e as StoreError {
            #expect(e.description.contains("/proc/no-such-dir/state.db"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
