// `skiff master`: the API server over the embedded SQLite store.
import APIServer
import ArgumentParser
import Dispatch
import Foundation
import Store
import Synchronization

struct MasterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "master",
        abstract: "Run the master: the Kubernetes API server over an embedded SQLite store.")

    @Option(name: .long, help: "Address to serve the API on (plain HTTP; keep it on loopback).")
    var listen: String = "127.0.0.1:6443"

    @Option(name: .customLong("data-dir"), help: "Directory for the store (state.db).")
    var dataDir: String = "/var/lib/skiff/master"

    func run() throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT, got \(listen)")
        }
        let host = String(listen[..<colon])
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: dataDir + "/state.db")
        let listen = self.listen
        let finished = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        Task {
            do {
                let api = KubernetesAPI(store: store, serverAddress: listen)
                try await api.bootstrap()
                let server = try await HTTPServer(host: host, port: port, handler: api)
                writeAll(2, "skiff master: serving the Kubernetes API on http://\(host):\(server.port) (data in \(dataDir))\n")
                try await server.run()
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
            finished.signal()
        }
        finished.wait()
        if let message = failure.withLock({ $0 }) { throw ValidationError("master stopped: \(message)") }
    }
}
