// Streaming for every kubectl generation, end to end through `skiff master` to `skiff node`:
// port-forward with kubectl 1.33 (SPDY tunnelled in a websocket) and 1.27 (a SPDY upgrade) —
// two ports, concurrent connections, bytes echoed back exactly, a port nothing listens on —
// and exec/attach/logs/cp with kubectl 1.27 (SPDY: stdin, a tty with its size, exit codes).
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension Cluster {
    /// kubectl of one minor version against this cluster's master.
    func kubectl(_ version: String, _ args: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let r = try TestEnv.capture([try TestEnv.kubectl(version), "--kubeconfig", "/dev/null", "-s", "http://127.0.0.1:\(port)",
                                     "--cache-dir", dir + "/kubectl-cache"] + args, stdin: stdin)
        return (r.status, r.stdout, r.stderr)
    }

    /// A pod whose container echoes every connection on 7001 and 7002 (busybox nc, one process a connection).
    func startEchoPod(_ name: String) throws {
        try createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: \(name)}
        spec:
          nodeName: \(nodeName)
          terminationGracePeriodSeconds: 1
          containers:
          - {name: main, image: busybox:test, command: ["sh", "-c", "nc -ll -p 7001 -e cat & exec nc -ll -p 7002 -e cat"]}
        """)
    }
}

/// A running `kubectl port-forward` and the local ports it listens on, in the order asked.
final class PortForward {
    let process = Process()
    private let output = Pipe(), errors = Pipe()
    private(set) var localPorts: [Int] = []
    private(set) var stderrText = ""

    init(kubectl: String, server: Int, cacheDir: String, pod: String, ports: [Int]) throws {
        process.executableURL = URL(fileURLWithPath: kubectl)
        process.arguments = ["--kubeconfig", "/dev/null", "-s", "http://127.0.0.1:\(server)", "--cache-dir", cacheDir,
                             "port-forward", "--address", "127.0.0.1", "pod/\(pod)"] + ports.map { ":\($0)" }
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // "Forwarding from 127.0.0.1:41234 -> 7001", one line a port.
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while localPorts.count < ports.count && Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            localPorts = ports.compactMap { remote in
                text.split(separator: "\n").first { $0.hasSuffix("-> \(remote)") }
                    .flatMap { $0.split(separator: " ").dropFirst(2).first?.split(separator: ":").last }.flatMap { Int($0) }
            }
        }
        guard localPorts.count == ports.count else {
            stop()
            throw TestSupportError("kubectl port-forward did not start: \(text) \(stderrText)")
        }
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        stderrText += String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }
}

/// Sends `payload` on a fresh loopback connection, half-closes (unless told not to: the server
/// then closes), and returns everything read back.
func roundTrip(port: Int, payload: [UInt8], halfClose: Bool = true) -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return [] }
    var tv = timeval(tv_sec: 20, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let writer = Thread {
        var off = 0
        while off < payload.count {
            let n = payload[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            off += n
        }
        if halfClose { shutdown(fd, Int32(SHUT_WR)) }
    }
    writer.start()
    var received: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        received += buf[0..<n]
    }
    while writer.isExecuting { usleep(1000) }
    return received
}

/// Distinct, non-repeating-looking bytes for one connection.
func pattern(_ seed: UInt8, count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &+ $0 >> 8) }
}

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct StreamingRootTests {
    @Test(arguments: ["1.33", "1.27"])
    func portForwardEchoesTwoPortsAndConcurrentConnections(version: String) throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.startEchoPod("echo")
        #expect(try c.eventually { try c.pod("echo")?.value(at: "status.phase") == "Running" })
        let forward = try PortForward(kubectl: try TestEnv.kubectl(version), server: c.port, cacheDir: c.dir + "/kubectl-cache",
                                      pod: "echo", ports: [7001, 7002])
        defer { forward.stop() }
        // Three connections at once, two on one port; each gets its own bytes back, whole.
        let targets = [forward.localPorts[0], forward.localPorts[0], forward.localPorts[1]]
        let payloads = targets.indices.map { pattern(UInt8($0), count: 300_000 + $0 * 1000) }
        nonisolated(unsafe) var echoed = [[UInt8]](repeating: [], count: targets.count)
        DispatchQueue.concurrentPerform(iterations: targets.count) { i in echoed[i] = roundTrip(port: targets[i], payload: payloads[i]) }
        for i in targets.indices {
            #expect(echoed[i].count == payloads[i].count, "connection \(i) got \(echoed[i].count) of \(payloads[i].count) bytes \(c.nodeLog.suffix(2000))")
            #expect(echoed[i] == payloads[i], "connection \(i) echoed exactly")
        }
        // The forward keeps serving after connections closed.
        #expect(roundTrip(port: forward.localPorts[1], payload: Array("again\n".utf8)) == Array("again\n".utf8))
        // kubectl ≥ 1.31 tunnels SPDY in a websocket; 1.27 upgrades to SPDY itself.
        let transport = version == "1.27" ? "SPDY" : "websocket"
        #expect(c.nodeLog.contains("port-forward to default/echo over \(transport)"), "\(c.nodeLog.suffix(1000))")
    }

    @Test(arguments: ["1.33", "1.27"])
    func portForwardToAnUnlistenedPortReportsTheError(version: String) throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.startEchoPod("echo")
        #expect(try c.eventually { try c.pod("echo")?.value(at: "status.phase") == "Running" })
        let forward = try PortForward(kubectl: try TestEnv.kubectl(version), server: c.port, cacheDir: c.dir + "/kubectl-cache",
                                      pod: "echo", ports: [7999])
        #expect(roundTrip(port: forward.localPorts[0], payload: Array("hello".utf8)).isEmpty, "nothing comes back from a closed port")
        Thread.sleep(forTimeInterval: 0.5)
        forward.stop()
        #expect(forward.stderrText.contains("error forwarding port 7999 to pod default/echo"), "\(forward.stderrText)")
        #expect(forward.stderrText.contains("connect: connection refused"), "\(forward.stderrText)")
        // The agent is unharmed: a new forward to a listening port echoes.
        let again = try PortForward(kubectl: try TestEnv.kubectl(version), server: c.port, cacheDir: c.dir + "/kubectl-cache",
                                    pod: "echo", ports: [7001])
        defer { again.stop() }
        #expect(roundTrip(port: again.localPorts[0], payload: Array("still here\n".utf8)) == Array("still here\n".utf8), "\(c.nodeLog.suffix(2000))")
    }

    @Test func kubectl127ExecAttachLogsOverSPDY() throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: ticker}
        spec:
          nodeName: \(c.nodeName)
          containers:
          - {name: main, image: busybox:test, command: ["sh", "-c", "echo started; while true; do echo tick; sleep 0.3; done"]}
        """)
        #expect(try c.eventually { try c.pod("ticker")?.value(at: "status.phase") == "Running" })
        let k = { (args: [String], stdin: String?) in try c.kubectl("1.27", args, stdin: stdin) }

        let hello = try k(["exec", "ticker", "--", "sh", "-c", "echo out; echo err >&2"], nil)
        #expect(hello.status == 0 && hello.out == "out\n" && hello.err == "err\n", "\(hello) \(c.nodeLog.suffix(2000))")
        let failing = try k(["exec", "ticker", "--", "sh", "-c", "echo before; exit 3"], nil)
        #expect(failing.status == 3 && failing.out == "before\n", "\(failing)")
        let piped = try k(["exec", "-i", "ticker", "--", "sh", "-c", "tr a-z A-Z; exit 4"], "piped input\nsecond line\n")
        #expect(piped.status == 4 && piped.out == "PIPED INPUT\nSECOND LINE\n", "\(piped)")
        let big = String(repeating: "0123456789abcdef", count: 64 * 1024)   // 1 MiB through stdin and back
        let echoed = try k(["exec", "-i", "ticker", "--", "cat"], big)
        #expect(echoed.status == 0 && echoed.out == big, "\(echoed.out.count) bytes back")
        let missing = try k(["exec", "ticker", "--", "/no/such/binary"], nil)
        #expect(missing.status != 0, "\(missing)")
        let noContainer = try k(["exec", "ticker", "-c", "nope", "--", "true"], nil)
        #expect(noContainer.status != 0 && noContainer.err.contains("nope"), "\(noContainer.err)")

        // A terminal: kubectl in a pty of 31×97 rows/columns; the size arrives by the resize
        // stream, the typed line through stdin, the exit code on the error stream.
        let tty = try runInTerminal([try TestEnv.kubectl("1.27"), "--kubeconfig", "/dev/null", "-s", "http://127.0.0.1:\(c.port)",
                                     "exec", "-it", "ticker", "--", "sh", "-c", "stty size; tty; echo ready; read line; echo got:$line; exit 5"],
                                    steps: [("ready", "typed line\r")])
        #expect(tty.status == 5, "\(tty)")
        #expect(tty.out.contains("31 97"), "the terminal's size: \(tty.out)")
        #expect(tty.out.contains("/dev/pts/"), "\(tty.out)")
        #expect(tty.out.contains("got:typed line"), "\(tty.out)")

        // attach follows the container's output; logs is plain HTTP.
        let attach = Process()
        attach.executableURL = URL(fileURLWithPath: try TestEnv.kubectl("1.27"))
        attach.arguments = ["--kubeconfig", "/dev/null", "-s", "http://127.0.0.1:\(c.port)", "attach", "ticker"]
        let attached = Pipe()
        attach.standardOutput = attached
        attach.standardError = FileHandle.nullDevice
        try attach.run()
        Thread.sleep(forTimeInterval: 2)
        attach.terminate()
        attach.waitUntilExit()
        let attachOut = String(decoding: attached.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(attachOut.contains("tick\ntick\n") && !attachOut.contains("started"), "only new output: \(attachOut)")
        let logs = try k(["logs", "ticker", "--tail=1"], nil)
        #expect(logs.status == 0 && logs.out == "tick\n", "\(logs)")
    }

    @Test(arguments: ["1.27", "1.33"])
    func kubectlCpCopiesBothWays(version: String) throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.startEchoPod("files")
        #expect(try c.eventually { try c.pod("files")?.value(at: "status.phase") == "Running" })
        let local = c.dir + "/upload.bin"
        let content = Data(pattern(9, count: 200_000))
        try content.write(to: URL(fileURLWithPath: local))
        // kubectl cp runs in the test's directory: relative names stay inside it.
        let up = try c.kubectl(version, ["cp", local, "files:/tmp/upload.bin"])
        #expect(up.status == 0, "\(up)")
        let sum = try c.kubectl(version, ["exec", "files", "--", "md5sum", "/tmp/upload.bin"])
        let localSum = try TestEnv.capture(["/usr/bin/md5sum", local]).stdout.prefix(32)
        #expect(sum.out.hasPrefix(String(localSum)), "\(sum) vs \(localSum)")
        let back = c.dir + "/download.bin"
        let down = try c.kubectl(version, ["cp", "files:/tmp/upload.bin", back])
        #expect(down.status == 0, "\(down)")
        #expect(FileManager.default.contents(atPath: back) == content, "the file came back whole")
    }

    @Test func garbageAfterTheSPDYUpgradeClosesOnlyThatConnection() throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.startEchoPod("echo")
        #expect(try c.eventually { try c.pod("echo")?.value(at: "status.phase") == "Running" })
        let nodePort = try c.nodeServerPort()
        // A well-formed upgrade straight to the node server, then bytes that are no SPDY frame.
        let upgrade = "POST /portForward/default/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            + "X-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n"
        let answer = roundTrip(port: nodePort, payload: Array(upgrade.utf8) + [0x80, 0x07, 0x00, 0x01, 0, 0, 0, 2, 0xde, 0xad], halfClose: false)
        let text = String(decoding: answer, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 101"), "\(text)")
        #expect(text.lowercased().contains("x-stream-protocol-version: portforward.k8s.io"), "\(text)")
        // A version we don't speak is refused with a plain answer, not upgraded.
        let wrong = upgrade.replacingOccurrences(of: "portforward.k8s.io", with: "portforward.k8s.io.v9")
            .replacingOccurrences(of: "Connection: Upgrade", with: "Connection: Upgrade, close")
        let refused = String(decoding: roundTrip(port: nodePort, payload: Array(wrong.utf8), halfClose: false), as: UTF8.self)
        #expect(refused.hasPrefix("HTTP/1.1 400") && refused.contains("Upgrade request required"), "\(refused)")
        // The agent goes on: a real forward still echoes.
        let forward = try PortForward(kubectl: try TestEnv.kubectl("1.27"), server: c.port, cacheDir: c.dir + "/kubectl-cache",
                                      pod: "echo", ports: [7001])
        defer { forward.stop() }
        #expect(roundTrip(port: forward.localPorts[0], payload: Array("alive\n".utf8)) == Array("alive\n".utf8), "\(c.nodeLog.suffix(2000))")
    }
}
