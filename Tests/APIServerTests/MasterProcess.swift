// Runs the real `skiff master` binary on a free loopback port with its own data directory.
import Foundation
import TestSupport

final class MasterProcess: @unchecked Sendable {
    var process = Process()
    let dataDir: String
    let extraArgs: [String]
    private(set) var port = 0
    var client: TestClient { TestClient(port: port) }
    var url: String { "http://127.0.0.1:\(port)" }

    /// `controllers`: run the controller manager too (off by default, see start()).
    init(extraArgs: [String] = [], controllers: Bool = false) throws {
        dataDir = try TestEnv.makeTempDir("skiff-master")
        self.extraArgs = (controllers ? [] : ["--no-controllers"]) + extraArgs
        try start()
    }

    private func start() throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnv.binDir + "/skiff")
        // The API alone: no scheduler (nor, unless asked, controllers) writing to the objects these tests watch.
        process.arguments = ["master", "--listen", "127.0.0.1:0", "--dns-port", "0", "--data-dir", dataDir, "--no-scheduler"] + extraArgs
        let err = Pipe()
        process.standardError = err
        try process.run()
        // The first stderr line names the bound port: "... on http(s)://127.0.0.1:PORT (data in ...)".
        var line: [UInt8] = []
        let handle = err.fileHandleForReading
        while true {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty || byte.first == 0x0a { break }
            line.append(byte.first!)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let r = text.range(of: "://127.0.0.1:"),
              let p = Int(text[r.upperBound...].prefix { $0.isNumber }) else {
            process.terminate()
            throw TestHTTPError("skiff master did not start: \(text)")
        }
        port = p
    }

    /// Kills the master (SIGKILL: no clean shutdown) and starts it again on the same data.
    func killAndRestart() throws {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try start()
    }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: dataDir)
    }

    deinit { stop() }
}
