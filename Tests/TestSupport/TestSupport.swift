// Helpers shared by the test targets: root gating, unique names, the repo and the test image.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

public enum TestEnv {
    /// Root/kernel tests are gated on this; CI runs as root, so they run there.
    public static let isRoot: Bool = getuid() == 0

    /// The repository root (the directory holding Package.swift).
    public static let repoRoot: String = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                return dir.path
            }
            dir.deleteLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath
    }()

    /// Where the built executables (skiff, skiff-monitor) are: $SKIFF_BIN_DIR, else beside the
    /// test runner (swift test runs .build/<triple>/debug/<package>PackageTests.xctest).
    /// Polls `check` every 0.1 s until it holds or `seconds` pass; returns whether it held.
    public static func eventually(_ seconds: Double = 20, _ check: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try check() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    /// The kubectl binary of one minor version (kubectl is a dispatcher; the versions sit beside it).
    public static func kubectl(_ version: String = "1.33") throws -> String {
        let which = try capture(["/bin/sh", "-c", "readlink -f \"$(command -v kubectl)\""])
        return (which.stdout.trimmingCharacters(in: .whitespacesAndNewlines) as NSString).deletingLastPathComponent + "/kubectl." + version
    }

    public static let binDir: String = {
        if let dir = ProcessInfo.processInfo.environment["SKIFF_BIN_DIR"] { return dir }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }()

    /// A name unique to this process and call, safe for netns, cgroups, dirs ("skt-<pid>-<n>-<rand>").
    public static func uniqueName(_ prefix: String = "skt") -> String {
        let n = counter.next()
        return "\(prefix)-\(getpid())-\(n)-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }

    /// A fresh temporary directory (caller removes it).
    public static func makeTempDir(_ prefix: String = "skiff-test") throws -> String {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return String(cString: p)
    }

    /// The busybox OCI image layout built by hack/build-test-image.sh (built once per machine).
    public static func busyboxImageLayout() throws -> String {
        let out = repoRoot + "/hack/.cache/busybox-oci"
        if FileManager.default.fileExists(atPath: out + "/index.json") { return out }
        let status = try run(["/bin/bash", repoRoot + "/hack/build-test-image.sh", out])
        guard status == 0 else { throw TestSupportError("hack/build-test-image.sh failed (\(status))") }
        return out
    }

    /// Runs a program to completion, inheriting stdio; returns its exit status.
    @discardableResult
    public static func run(_ argv: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Runs a program (with `stdin` as its input, if given) and returns (status, stdout, stderr).
    public static func capture(_ argv: [String], stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// This process's mount table, read to the end with read(2) (a /proc file reports size 0, and a
    /// one-shot read can stop short of a long table while parallel tests mount and unmount).
    public static func mountinfo() -> String {
        let fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A loopback TCP port nobody listens on right now (for servers that need a fixed port, like etcd or a registry).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        guard let port = bindLoopback(fd) else { throw TestSupportError("no free port") }
        return port
    }

    /// A socket listening on a free loopback port that never accepts: connections to it complete in
    /// the kernel and then hear nothing (a hung server). The caller closes `fd`.
    public static func silentListener() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard let port = bindLoopback(fd), listen(fd, 16) == 0 else {
            close(fd)
            throw TestSupportError("no loopback listener")
        }
        return (fd, port)
    }

    /// Binds `fd` to 127.0.0.1 on a port the kernel picks; returns the port.
    private static func bindLoopback(_ fd: Int32) -> Int? {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        return ok ? Int(UInt16(bigEndian: addr.sin_port)) : nil
    }

    private static let counter = Counter()
}

public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}
