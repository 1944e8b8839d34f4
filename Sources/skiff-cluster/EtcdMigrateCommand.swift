// `skiff etcd-migrate`: moves a master's state from its SQLite store to etcd, so the cluster can
// go on with `skiff master --store etcd` (and more masters). Run it with the master stopped.
// Objects keep their names, uids and contents; resourceVersions are etcd's from then on, so
// clients relist (as after any etcd restore).
import ArgumentParser
import SkiffCLI
import Foundation
import Store

struct EtcdMigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: ClusterCommand.etcdMigrate.rawValue, abstract: ClusterCommand.etcdMigrate.abstract)

    @Option(name: .customLong("data-dir"), help: "The master's data directory (holding state.db).")
    var dataDir: String = "/var/lib/skiff/master"

    @OptionGroup(title: "etcd") var etcd: EtcdFlags

    @Flag(name: .long, help: "Copy even if the etcd prefix already holds keys (theirs are overwritten).")
    var force = false

    func run() throws {
        let path = dataDir + "/state.db"
        guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("no SQLite store at \(path) (--data-dir)") }
        let source = try SQLiteStore(path: path)
        let target = try etcd.open()
        defer { target.close() }
        let force = self.force, prefix = etcd.prefix, endpoints = etcd.endpoints
        let result = ResultBox()
        let started = Date()
        Task {
            do {
                let existing = try await target.list(prefix: "/", limit: 1, continueAfter: nil, revision: nil)
                if !existing.items.isEmpty && !force {
                    throw ValidationError("etcd already holds keys under \(prefix) (another cluster, or a migration done before): use another --etcd-prefix, or --force")
                }
                // One consistent snapshot, copied in pages with several writes in flight.
                let revision = await source.currentRevision()
                var after: String?
                var keys = 0, bytes = 0
                repeat {
                    let page = try await source.list(prefix: "/", limit: 500, continueAfter: after, revision: revision)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for (i, kv) in page.items.enumerated() {
                            if i >= 16 { try await group.next() }
                            group.addTask {
                                do { _ = try await target.create(kv.key, value: kv.value) }
                                catch let e as StoreError where e.code == .alreadyExists && force {
                                    _ = try await target.update(kv.key, value: kv.value, expectedModRevision: nil)
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                    keys += page.items.count
                    bytes += page.items.reduce(0) { $0 + $1.value.count }
                    after = page.more ? page.items.last?.key : nil
                } while after != nil
                result.set(.success("copied \(keys) keys (\(bytes / 1024) KiB) from \(path) at revision \(revision) to etcd \(endpoints) under \(prefix) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s; start the master with --store etcd --etcd-endpoints \(endpoints) --etcd-prefix \(prefix)"))
            } catch {
                result.set(.failure(error))
            }
        }
        switch result.wait() {
        case .success(let message): print(message)
        case .failure(let error): throw error
        }
    }
}

final class ResultBox: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var value: Result<String, Error> = .success("")
    func set(_ v: Result<String, Error>) { value = v; done.signal() }
    func wait() -> Result<String, Error> { done.wait(); return value }
}
