// A real Debian `docker-registry` on a free loopback port with its own storage (and optional
// htpasswd auth), plus pushing the locally built busybox image into it with skopeo.
import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

final class LocalRegistry: @unchecked Sendable {
    let dir: String
    let port: Int
    let process = Process()
    var host: String { "127.0.0.1:\(port)" }
    var storage: String { dir + "/storage" }
    let credentials: (String, String)?

    /// The CA certificate clients must trust when serving TLS.
    var certificate: String { dir + "/cert.pem" }

    init(user: String? = nil, password: String? = nil, tls: Bool = false) throws {
        dir = try TestEnv.makeTempDir("skiff-registry")
        port = try TestEnv.freePort()
        var tlsConfig = ""
        if tls {
            let r = try TestEnv.capture(["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                                         "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"])
            guard r.status == 0 else { throw RegistryTestError("openssl failed: \(r.stderr)") }
            tlsConfig = "  tls:\n    certificate: \(dir)/cert.pem\n    key: \(dir)/key.pem\n"
        }
        var auth = ""
        if let user, let password {
            let r = try TestEnv.capture(["/usr/bin/htpasswd", "-Bbn", user, password])
            guard r.status == 0 else { throw RegistryTestError("htpasswd failed: \(r.stderr)") }
            try r.stdout.write(toFile: dir + "/htpasswd", atomically: true, encoding: .utf8)
            auth = "auth:\n  htpasswd:\n    realm: skiff-test\n    path: \(dir)/htpasswd\n"
            credentials = (user, password)
        } else {
            credentials = nil
        }
        let config = """
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: \(dir)/storage
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:\(port)
            \(tlsConfig)\(auth)
            """
        try config.write(toFile: dir + "/config.yml", atomically: true, encoding: .utf8)
        try LocalRegistry.serve(process, "/usr/bin/docker-registry", ["serve", dir + "/config.yml"], port: port, onFailure: stop)
    }

    func stop() { LocalRegistry.stop(process, dir: dir) }

    /// Starts a server process and waits until it accepts connections on `port`.
    static func serve(_ process: Process, _ executable: String, _ args: [String], port: Int, onFailure: () -> Void) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if canConnect(port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        onFailure()
        throw RegistryTestError("\(executable) did not start on 127.0.0.1:\(port)")
    }

    /// Kills a server process and removes its directory.
    static func stop(_ process: Process, dir: String) {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: dir)
    }

    deinit { stop() }

    /// skopeo copy of an OCI layout (tag or whole index with `all`) to repo:tag here.
    func push(layout: String, tag: String = "latest", to repoTag: String, format: String? = nil, all: Bool = false) throws {
        var args = ["/usr/bin/skopeo", "copy", "-q", "--dest-tls-verify=false"]
        if let format { args += ["--format", format] }
        if all { args.append("--all") }
        if let (u, p) = credentials { args += ["--dest-creds", "\(u):\(p)"] }
        args += ["oci:\(layout):\(tag)", "docker://\(host)/\(repoTag)"]
        let r = try TestEnv.capture(args)
        guard r.status == 0 else { throw RegistryTestError("skopeo copy failed: \(r.stderr)") }
    }

    /// The registry's file for a blob (to corrupt it).
    func blobFile(_ hex: String) -> String {
        storage + "/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
    }

    static func canConnect(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
    }
}

struct RegistryTestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
