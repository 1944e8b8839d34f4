// Starting skiff-monitor: detached (posix_spawn, readiness over a pipe) or in the foreground
// (exec: this process becomes the monitor). posix_spawn and exec are C; no Swift runs in a child.
import CLinux
import CShims
#if canImport(Glibc)
import Glibc
#endif

/// A launch failure reported by the shim: the stage that failed, its errno and the path or value.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    public let stage: String
    public let errno: Int32
    public let detail: String

    init(_ record: skiff_spawn_error) {
        stage = String(cString: skiff_stage_name(record.stage))
        errno = record.err
        detail = withUnsafeBytes(of: record.detail) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    public var description: String {
        let reason = errno == 0 ? "failed" : String(cString: strerror(errno))
        if stage == "exec" && errno == ENOENT { return "executable not found: \(detail)" }
        return detail.isEmpty ? "\(stage) failed: \(reason)" : "\(stage) failed: \(reason) (\(detail))"
    }
}

public enum MonitorLauncher {
    /// Starts a monitor that outlives this process (its own session, stdio on /dev/null) and
    /// returns the container's pid once its command was exec'd.
    public static func startDetached(monitor: String, spawnFile: String) throws -> Int32 {
        var fds: [Int32] = [-1, -1]
        // The CLI is single-threaded here, so pipe + FD_CLOEXEC has no fork race (pipe2 isn't in Glibc's module).
        guard pipe(&fds) == 0 else { throw RuntimeError.posix(.spawn, "pipe") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        defer { close(fds[0]) }
        let spawned = spawn(monitor, arguments: [spawnFile, "3"], newSession: true) { actions in
            for fd in Int32(0)...2 {
                posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            }
            posix_spawn_file_actions_adddup2(&actions, fds[1], 3)
        }
        close(fds[1])
        let pid = try spawned.get()

        var record = skiff_spawn_error()
        let size = MemoryLayout<skiff_spawn_error>.size
        var got = 0
        while got < size {
            let n = withUnsafeMutableBytes(of: &record) { read(fds[0], $0.baseAddress! + got, size - got) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += n
        }
        // The monitor forks once to leave us; reap the first process so it leaves no zombie.
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard got == size else {
            throw RuntimeError(.spawn, "the monitor (\(monitor)) exited before reporting the container's start")
        }
        guard record.stage == 0 else { throw SpawnError(record) }
        return record.err
    }

    /// Starts `skiff-monitor --exec` with the given fds as its stdio; returns its pid (reap it).
    static func startExec(monitor: String, spawnFile: String, stdio: [Int32]) throws -> pid_t {
        try spawn(monitor, arguments: ["--exec", spawnFile], newSession: false) { actions in
            for (i, fd) in stdio.enumerated() { posix_spawn_file_actions_adddup2(&actions, fd, Int32(i)) }
        }.get()
    }

    /// posix_spawn of the monitor with a clean signal mask (C does the fork and exec).
    private static func spawn(_ monitor: String, arguments: [String], newSession: Bool,
                              fileActions: (inout posix_spawn_file_actions_t) -> Void) -> Result<pid_t, RuntimeError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        fileActions(&actions)
        var attr = posix_spawnattr_t()
        skiff_spawnattr_init(&attr, newSession ? 1 : 0)
        defer { posix_spawnattr_destroy(&attr) }
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = ([monitor] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let rc = posix_spawn(&pid, monitor, &actions, &attr, argv, environ)
        guard rc == 0 else { return .failure(RuntimeError.posix(.spawn, "starting the monitor", path: monitor, errno: rc)) }
        return .success(pid)
    }

    /// Replaces this process with the monitor in foreground mode; returns only by throwing.
    public static func execForeground(monitor: String, spawnFile: String) throws -> Never {
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(monitor), strdup(spawnFile), nil]
        execv(monitor, argv)
        throw RuntimeError.posix(.spawn, "executing the monitor", path: monitor)
    }
}

/// What the monitor records when the container exits (exit.json).
public struct ExitRecord: Codable, Sendable, Equatable {
    public var exitCode: Int32
    public var signal: Int32
    public var oomKilled: Bool
    public var startedAt: String
    public var finishedAt: String

    public init(exitCode: Int32, signal: Int32, oomKilled: Bool, startedAt: String, finishedAt: String) {
        self.exitCode = exitCode; self.signal = signal; self.oomKilled = oomKilled
        self.startedAt = startedAt; self.finishedAt = finishedAt
    }
}

/// The container init's pid and start time (init.pid): the pair guards against pid reuse.
public struct PidRecord: Sendable, Equatable {
    public var pid: Int32
    public var startTime: UInt64
    /// The monitor's own pid and start time (older monitors did not record them).
    public var monitorPID: Int32?
    public var monitorStartTime: UInt64?

    /// Parses "<pid> <starttime>[ <monitor pid> <monitor starttime>]\n".
    public init?(parsing text: String) {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count == 2 || parts.count == 4, let p = Int32(parts[0]), p > 0, let t = UInt64(parts[1]) else { return nil }
        pid = p
        startTime = t
        if parts.count == 4, let m = Int32(parts[2]), m > 0, let mt = UInt64(parts[3]) { monitorPID = m; monitorStartTime = mt }
    }

    /// The monitor is still there: after the container exits it drains output, then writes the exit record.
    public var monitorIsAlive: Bool {
        guard let monitorPID, let monitorStartTime else { return false }
        return Self.alive(monitorPID, startTime: monitorStartTime)
    }

    /// True while that same process exists and is not a zombie.
    public var isAlive: Bool { Self.alive(pid, startTime: startTime) }

    static func alive(_ pid: Int32, startTime: UInt64) -> Bool {
        guard let stat = try? FileIO.readString("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: ")") else { return false }
        // Fields after the command: state is field 3, starttime field 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return false }
        return UInt64(fields[19]) == startTime
    }
}
