// Masters sharing one store share one cluster identity: the CA, the service-account key and the
// node join token live in the store (/_security/cluster) as well as in <data-dir>. The first
// master to start puts its own there; the others take those, so a kubeconfig, a join token or a
// ServiceAccount token from one master works with all of them. (The key is stored as it is:
// protect the store as the CA key itself — etcd with TLS and client certificates.)
import API
import Foundation
import Auth
import Store

enum ClusterSecrets {
    static let key = "/_security/cluster"

    /// Makes <data-dir>/tls and <data-dir>/node-token hold the cluster's shared secrets.
    static func share(store: any KeyValueStore, dataDir: String) throws {
        let tls = dataDir + "/tls"
        let files = Self.files(dataDir)
        try blocking {
            if let kv = try await store.get(key) { return try adopt(try JSONValue.parse(kv.value), dataDir: dataDir) }
            // First master: ours (made now if this data dir has none) become the cluster's.
            let ca = try ClusterCA.loadOrCreate(directory: tls)
            _ = try ServiceAccountTokens(directory: tls)
            _ = try NodeJoin.ensureToken(dataDir: dataDir, ca: ca)
            var mine = JSONObject()
            for (name, (path, _)) in files.sorted(by: { $0.key < $1.key }) { mine[name] = .string(try String(contentsOfFile: path, encoding: .utf8)) }
            do {
                _ = try await store.create(key, value: JSONValue.object(mine).serialized())
            } catch let e as StoreError where e.code == .alreadyExists {
                // Another master got there first: take its.
                if let kv = try await store.get(key) { try adopt(try JSONValue.parse(kv.value), dataDir: dataDir) }
            }
        }
    }

    /// The shared files: name in the store → path and mode.
    static func files(_ dataDir: String) -> [String: (String, Int)] {
        ["ca.crt": (dataDir + "/tls/ca.crt", 0o644), "ca.key": (dataDir + "/tls/ca.key", 0o600),
         "sa.key": (dataDir + "/tls/sa.key", 0o600), "node-token": (dataDir + "/node-token", 0o600)]
    }

    /// Writes the stored secrets over this data dir's (leaves files that already match alone).
    static func adopt(_ stored: JSONValue, dataDir: String) throws {
        try FileManager.default.createDirectory(atPath: dataDir + "/tls", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for (name, (path, mode)) in files(dataDir) {
            guard let text = stored[name]?.stringValue else { throw SecurityError("the stored cluster secrets lack \(name)") }
            if (try? String(contentsOfFile: path, encoding: .utf8)) == text { continue }
            let tmp = path + ".tmp"
            guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8), attributes: [.posixPermissions: mode]),
                  rename(tmp, path) == 0 else { throw SecurityError("cannot write \(path)") }
        }
    }

    /// Runs async store work from the synchronous start-up path.
    static func blocking(_ work: @escaping @Sendable () async throws -> Void) throws {
        let done = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        Task {
            do { try await work() } catch { failure.set("\(error)") }
            done.signal()
        }
        done.wait()
        if let message = failure.get() { throw SecurityError("sharing the cluster's CA through the store: \(message)") }
    }
}
