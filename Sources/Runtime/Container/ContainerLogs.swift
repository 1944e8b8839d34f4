// Reading a container's CRI-format log ("<RFC3339Nano> <stdout|stderr> <P|F> <text>").
#if canImport(Glibc)
import Glibc
#endif

public struct LogLine: Equatable, Sendable {
    public enum Stream: String, Sendable { case stdout, stderr }
    public var timestamp: String
    public var stream: Stream
    /// False for a "P" (partial) chunk: the next chunk of the same stream continues the line.
    public var complete: Bool
    public var text: String

    /// Parses one CRI log line (without its trailing newline); nil if malformed.
    public init?(cri line: Substring) {
        let f = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard f.count >= 3, let stream = Stream(rawValue: String(f[1])), f[2] == "P" || f[2] == "F" else { return nil }
        timestamp = String(f[0])
        self.stream = stream
        complete = f[2] == "F"
        text = f.count == 4 ? String(f[3]) : ""
    }
}

extension ContainerRuntime {
    /// Sends every log line to `sink`; with `follow`, keeps reading until the container has
    /// exited and the log is drained, or `cancelled` says stop. `caughtUp` runs once, when the
    /// lines written so far have been sent.
    public func logs(_ ref: String, follow: Bool, cancelled: () -> Bool = { false }, caughtUp: () -> Void = {},
                     sink: (LogLine) -> Void) throws {
        var reachedEnd = false
        let record = try store.find(ref)
        let path = store.paths(record.id).log
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT && !follow { return }
            if errno != ENOENT { throw RuntimeError.posix(.io, "open", path: path) }
        }
        var file = fd
        defer { if file >= 0 { close(file) } }
        var pending: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            if file < 0 { file = open(path, O_RDONLY | O_CLOEXEC) }
            var n = 0
            if file >= 0 {
                n = buf.withUnsafeMutableBytes { read(file, $0.baseAddress, $0.count) }
                if n < 0 { if errno == EINTR { continue }; throw RuntimeError.posix(.io, "read", path: path) }
            }
            if n > 0 {
                pending.append(contentsOf: buf[0..<n])
                var start = 0
                while let nl = pending[start...].firstIndex(of: 10) {
                    if let line = LogLine(cri: Substring(decoding: pending[start..<nl], as: UTF8.self)) { sink(line) }
                    start = nl + 1
                }
                pending.removeFirst(start)
                continue
            }
            // EOF: done unless following a container that may still write.
            if !reachedEnd { reachedEnd = true; caughtUp() }
            guard follow, !cancelled() else { return }
            // Rotated (the monitor renamed the file and began a new one): go on in the new file.
            if file >= 0 {
                var now = stat(), open = stat()
                if stat(path, &now) == 0, fstat(file, &open) == 0, now.st_ino != open.st_ino {
                    close(file)
                    file = Glibc.open(path, O_RDONLY | O_CLOEXEC)
                    continue
                }
            }
            if case .running = store.status(of: record.id) { usleep(50_000); continue }
            if case .created = store.status(of: record.id) { usleep(50_000); continue }
            // Exited: one more read catches what the monitor wrote before its exit record.
            let m = file >= 0 ? buf.withUnsafeMutableBytes { read(file, $0.baseAddress, $0.count) } : 0
            if m > 0 { pending.append(contentsOf: buf[0..<m]); continue }
            return
        }
    }
}

public enum Signals {
    private static let table: [(String, Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("ILL", SIGILL), ("TRAP", SIGTRAP), ("ABRT", SIGABRT),
        ("BUS", SIGBUS), ("FPE", SIGFPE), ("KILL", SIGKILL), ("USR1", SIGUSR1), ("SEGV", SIGSEGV), ("USR2", SIGUSR2),
        ("PIPE", SIGPIPE), ("ALRM", SIGALRM), ("TERM", SIGTERM), ("CHLD", SIGCHLD), ("CONT", SIGCONT),
        ("STOP", SIGSTOP), ("TSTP", SIGTSTP), ("TTIN", SIGTTIN), ("TTOU", SIGTTOU), ("URG", SIGURG),
        ("XCPU", SIGXCPU), ("XFSZ", SIGXFSZ), ("VTALRM", SIGVTALRM), ("PROF", SIGPROF), ("WINCH", SIGWINCH),
        ("IO", SIGIO), ("PWR", SIGPWR), ("SYS", SIGSYS),
    ]

    /// "TERM", "SIGTERM", "15" → 15.
    public static func number(of name: String) throws -> Int32 {
        if let n = Int32(name), n > 0, n < 65 { return n }
        var upper = name.uppercased()
        if upper.hasPrefix("SIG") { upper.removeFirst(3) }
        guard let hit = table.first(where: { $0.0 == upper }) else {
            throw RuntimeError(.invalidArgument, "unknown signal \"\(name)\"")
        }
        return hit.1
    }
}
