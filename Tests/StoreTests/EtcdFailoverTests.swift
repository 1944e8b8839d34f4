// The etcd store on a 3-member cluster with the member it talks to killed mid-traffic: every
// write it acknowledged is there afterwards, and a watch running throughout sees each of them
// exactly once, in revision order (no gap, no duplicate).
import Foundation
import Testing
import TestSupport
@testable import Store
#if canImport(Glibc)
import Glibc
#endif

@Suite struct EtcdFailoverTests {
    @Test func aMemberKilledMidTrafficLosesNothing() async throws {
        let etcd = try EtcdCluster(size: 3)
        defer { etcd.stop() }
        let store = try EtcdStore(options: .init(endpoints: etcd.endpoints))
        defer { store.close() }
        let start = try await store.currentRevision()
        let stream = try await store.watch(prefix: "/k/", fromRevision: start)
        let seen = Seen()
        let watcher = Task { for try await e in stream { seen.add(e) } }
        defer { watcher.cancel() }
        // Four writers; the member goes while writes are in flight.
        let results = try await withThrowingTaskGroup(of: [(String, Int64?)].self) { group in
            for w in 0..<4 {
                group.addTask {
                    var out: [(String, Int64?)] = []
                    for i in stride(from: w, to: 300, by: 4) {
                        if i == 150 { etcd.kill(0) }   // the first endpoint: the one the store uses
                        let key = "/k/\(i)"
                        out.append((key, try? await store.create(key, value: Array("v\(i)".utf8))))
                    }
                    return out
                }
            }
            var all: [(String, Int64?)] = []
            for try await part in group { all += part }
            return all
        }
        var acknowledged: [String: Int64] = [:]
        for case let (key, rev?) in results { acknowledged[key] = rev }
        let failed = results.count - acknowledged.count
        // Every acknowledged write is there (one whose outcome was unknown may be too).
        let listed = try await store.list(prefix: "/k/", limit: nil, continueAfter: nil, revision: nil)
        let present = Dictionary(uniqueKeysWithValues: listed.items.map { ($0.key, $0.modRevision) })
        for (key, rev) in acknowledged { #expect(present[key] == rev, "acknowledged \(key) at \(rev)") }
        #expect(acknowledged.count >= 290, "\(failed) writes failed")
        // The watch saw exactly what landed: each write once, in revision order.
        let deadline = Date().addingTimeInterval(20)
        while seen.events.count < listed.items.count && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        try await Task.sleep(for: .milliseconds(300))   // (room for a duplicate to show up)
        let events = seen.events
        #expect(events.map(\.revision) == listed.items.map(\.modRevision).sorted(), "watch: \(events.count) events for \(listed.items.count) writes")
        #expect(events.map(\.key).sorted() == listed.items.map(\.key).sorted())
    }
}

extension EtcdFailoverTests {
    /// etcd with TLS and client certificates: the store connects with the CA and its certificate,
    /// and without a certificate it is refused with a clear error.
    @Test func tlsWithClientCertificates() async throws {
        let etcd = try EtcdCluster(size: 1, tls: true)
        defer { etcd.stop() }
        let files = etcd.tls!
        var options = EtcdStore.Options(endpoints: etcd.endpoints)
        options.tls = .init(caFile: files.ca, certFile: files.cert, keyFile: files.key)
        let store = try EtcdStore(options: options)
        defer { store.close() }
        let rev = try await store.create("/tls/a", value: Array("x".utf8))
        let stream = try await store.watch(prefix: "/tls/", fromRevision: rev - 1)
        var it = stream.makeAsyncIterator()
        #expect(try await it.next()?.key == "/tls/a")
        var noCert = EtcdStore.Options(endpoints: etcd.endpoints)
        noCert.tls = .init(caFile: files.ca)
        do {
            _ = try EtcdStore(options: noCert)
            Issue.record("a client without a certificate must be refused")
        } catch {
            #expect("\(error)".contains(etcd.endpoints[0]) || "\(error)".contains("etcd"), "\(error)")
        }
    }
}

final class Seen: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [WatchEvent] = []
    func add(_ e: WatchEvent) { lock.lock(); list.append(e); lock.unlock() }
    var events: [WatchEvent] { lock.lock(); defer { lock.unlock() }; return list }
}
