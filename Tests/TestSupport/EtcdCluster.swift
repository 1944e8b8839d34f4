// Real etcd (Debian's etcd-server) for tests: one member or a cluster, on free loopback ports,
// data under a temporary directory. Members can be killed and restarted. A watchdog per member
// stops it when the directory is removed or the test process exits, so a test that only removes
// its directory still leaves no etcd behind.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

public final class EtcdCluster: @unchecked Sendable {
    public struct Member {
        public let name: String
        public let clientPort: Int
        public let peerPort: Int
        public var pid: Int32 = 0
        public var endpoint: String { "http://127.0.0.1:\(clientPort)" }
    }

    /// With TLS: the CA, and a client certificate and key it signed (clients must present one).
    public struct TLSFiles: Sendable {
        public let ca: String, cert: String, key: String
    }

    public let dir: String
    public private(set) var members: [Member] = []
    public var endpoints: [String] { members.map { tls == nil ? $0.endpoint : $0.endpoint.replacingOccurrences(of: "http://", with: "https://") } }
    public private(set) var tls: TLSFiles?
    let token: String

    /// Starts `size` members (waits until each reports healthy). `dir`: where data and logs go
    /// (a new temporary directory when nil). `tls`: members serve HTTPS and require client certificates.
    public init(size: Int = 1, dir: String? = nil, tls: Bool = false) throws {
        self.dir = try dir ?? TestEnv.makeTempDir("skiff-etcd")
        token = TestEnv.uniqueName("etcd")
        if tls { self.tls = try Self.makeCertificates(in: self.dir) }
        for i in 0..<size {
            members.append(Member(name: "m\(i)", clientPort: try TestEnv.freePort(), peerPort: try TestEnv.freePort()))
        }
        for i in members.indices { try launch(i) }
        for i in members.indices { try waitHealthy(i) }
    }

    var initialCluster: String { members.map { "\($0.name)=http://127.0.0.1:\($0.peerPort)" }.joined(separator: ",") }

    private func launch(_ i: Int) throws {
        let m = members[i]
        let data = dir + "/" + m.name
        let client = endpoints[i]
        let args = ["--name", m.name, "--data-dir", data,
                    "--listen-client-urls", client, "--advertise-client-urls", client,
                    "--listen-peer-urls", "http://127.0.0.1:\(m.peerPort)", "--initial-advertise-peer-urls", "http://127.0.0.1:\(m.peerPort)",
                    "--initial-cluster", initialCluster, "--initial-cluster-state", "new", "--initial-cluster-token", token,
                    "--heartbeat-interval", "50", "--election-timeout", "500"]
            + (tls.map { ["--cert-file", dir + "/server.pem", "--key-file", dir + "/server-key.pem", "--trusted-ca-file", $0.ca, "--client-cert-auth"] } ?? [])
        // The watchdog: etcd in the background, stopped once the directory or the test process is gone.
        let script = """
        /usr/bin/etcd "$@" >>"\(dir)/\(m.name).log" 2>&1 &
        pid=$!
        echo $pid > "\(dir)/\(m.name).pid"
        while [ -d "\(dir)" ] && kill -0 \(getpid()) 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 0.5; done
        kill -9 $pid 2>/dev/null
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script, "etcd-watchdog"] + args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let pidFile = dir + "/\(m.name).pid"
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                members[i].pid = pid
                return
            }
            usleep(20_000)
        }
        throw TestSupportError("etcd \(m.name) did not start (see \(dir)/\(m.name).log)")
    }

    private func waitHealthy(_ i: Int, seconds: Double = 20) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let auth = tls.map { ["--cacert", $0.ca, "--cert", $0.cert, "--key", $0.key] } ?? []
            let r = try? TestEnv.capture(["/usr/bin/curl", "-s", "-m", "1"] + auth + [endpoints[i] + "/health"])
            if r?.stdout.contains("\"health\":\"true\"") == true { return }
            usleep(100_000)
        }
        let log = (try? String(contentsOfFile: dir + "/\(members[i].name).log", encoding: .utf8)) ?? ""
        throw TestSupportError("etcd \(members[i].name) not healthy after \(Int(seconds))s: \(log.suffix(2000))")
    }

    /// SIGKILLs member `i` (its data stays).
    public func kill(_ i: Int) {
        if members[i].pid > 0 { Glibc.kill(members[i].pid, SIGKILL) }
        members[i].pid = 0
    }

    /// Starts a killed member again on its data and ports.
    public func restart(_ i: Int) throws {
        try launch(i)
        try waitHealthy(i)
    }

    /// Stops every member and removes the directory.
    public func stop() {
        for i in members.indices { kill(i) }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, with openssl.
    static func makeCertificates(in dir: String) throws -> TLSFiles {
        let script = """
        set -e
        cd "\(dir)"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=etcd-test-ca -keyout ca-key.pem -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj /CN=skiff -keyout client-key.pem -out client.csr 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\\n' > client.ext
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile client.ext -out client.pem 2>/dev/null
        """
        let r = try TestEnv.capture(["/bin/sh", "-c", script])
        guard r.status == 0 else { throw TestSupportError("openssl: \(r.stderr)") }
        return TLSFiles(ca: dir + "/ca.pem", cert: dir + "/client.pem", key: dir + "/client-key.pem")
    }
}
