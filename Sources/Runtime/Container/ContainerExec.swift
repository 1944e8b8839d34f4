// Running another process inside a running container (`skiff exec`, the node's exec endpoint):
// the container's namespaces are joined through /proc/<init>/ns, its cgroups, identity,
// capabilities, seccomp filter, environment and working directory reused from what was
// recorded at its start (exec.json). skiff-monitor --exec does the launch in C.
import CShims
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// What an exec inherits from the container's own start, saved beside its spawn file.
struct ExecBase: Codable {
    var env: [String]
    var cwd: String
    var uid: UInt32
    var gid: UInt32
    var groups: [UInt32]
    var caps: [UInt64]          // bounding, effective, permitted, inheritable, ambient
    var noNewPrivileges: Bool
    var seccompPath: String?
    var cgroupProcs: [String]
    var rlimits: [[UInt64]]     // resource, soft, hard

    init(_ c: SpawnConfig) {
        env = c.env; cwd = c.cwd; uid = c.uid; gid = c.gid; groups = c.groups
        caps = [c.capabilities.bounding, c.capabilities.effective, c.capabilities.permitted,
                c.capabilities.inheritable, c.capabilities.ambient]
        noNewPrivileges = c.noNewPrivileges; seccompPath = c.seccompPath; cgroupProcs = c.cgroupProcs
        rlimits = c.rlimits.map { [UInt64($0.resource), $0.soft, $0.hard] }
    }

    /// The spawn plan of a process joining the container whose init is `pid`.
    func plan(command: [String], initPID: Int32, tty: Bool) -> SpawnConfig {
        var c = SpawnConfig()
        c.rootfs = "/"   // after joining the mount namespace, "/" is the container's root
        c.args = command
        c.env = env
        if tty && !env.contains(where: { $0.hasPrefix("TERM=") }) { c.env.append("TERM=xterm") }
        c.cwd = cwd
        // mnt last: the other /proc paths must still resolve from the host's view.
        c.namespaces = ["cgroup", "ipc", "uts", "net", "pid", "mnt"].map {
            SpawnConfig.Namespace(type: $0, path: "/proc/\(initPID)/ns/\($0)")
        }
        c.uid = uid; c.gid = gid; c.groups = groups
        c.capabilities = SpawnConfig.Capabilities(bounding: caps[0], effective: caps[1], permitted: caps[2],
                                                  inheritable: caps[3], ambient: caps[4])
        c.noNewPrivileges = noNewPrivileges
        c.seccompPath = seccompPath
        c.cgroupProcs = cgroupProcs
        c.rlimits = rlimits.compactMap { $0.count == 3 ? SpawnConfig.Rlimit(resource: Int32($0[0]), soft: $0[1], hard: $0[2]) : nil }
        c.foreground = true
        c.tty = tty
        return c
    }
}

/// A process started inside a container. With a terminal, `terminal` is the pty master (input
/// and output); otherwise stdin/stdout/stderr are pipes. Call `wait()` once, at the end.
public final class ExecProcess: @unchecked Sendable {
    public let pid: pid_t
    public let stdin: Int32
    public let stdout: Int32
    public let stderr: Int32
    public let terminal: Int32
    let spawnFile: String

    init(pid: pid_t, stdin: Int32, stdout: Int32, stderr: Int32, terminal: Int32, spawnFile: String) {
        self.pid = pid; self.stdin = stdin; self.stdout = stdout; self.stderr = stderr; self.terminal = terminal
        self.spawnFile = spawnFile
    }

    /// Blocks until the process exits; its exit code (128+signal when killed, 126/127 when it could not start).
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        unlink(spawnFile)
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Sets the terminal's size (kubectl's resize messages).
    public func resize(columns: UInt16, rows: UInt16) {
        guard terminal >= 0 else { return }
        var size = winsize(ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(terminal, UInt(TIOCSWINSZ), &size)
    }
}

extension ContainerRuntime {
    func saveExecBase(_ config: SpawnConfig, paths: ContainerPaths) throws {
        let data = try JSONEncoder().encode(ExecBase(config))
        try FileIO.writeAtomic(paths.dir + "/exec.json", [UInt8](data), mode: 0o600)
    }

    /// Writes the exec's spawn file; returns its path.
    func prepareExec(_ ref: String, command: [String], tty: Bool) throws -> (file: String, initPID: Int32) {
        guard !command.isEmpty, !command[0].isEmpty else { throw RuntimeError(.invalidArgument, "exec needs a command") }
        let record = try store.find(ref)
        guard case .running(let pid) = store.status(of: record.id) else {
            throw RuntimeError(.conflict, "container \(record.name) is not running")
        }
        let paths = store.paths(record.id)
        guard let bytes = try? FileIO.read(paths.dir + "/exec.json"),
              let base = try? JSONDecoder().decode(ExecBase.self, from: Data(bytes)) else {
            throw RuntimeError(.state, "container \(record.name) was started without exec support (no exec.json)")
        }
        let file = paths.dir + "/exec-\(ContainerStore.newID().prefix(12)).spawn"
        try base.plan(command: command, initPID: pid, tty: tty).write(to: file)
        return (file, pid)
    }

    /// Runs `command` in the container on this process's stdio, replacing this process (CLI).
    public func execForeground(_ ref: String, command: [String], tty: Bool) throws -> Never {
        let file = try prepareExec(ref, command: command, tty: tty).file
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(options.monitorPath), strdup("--exec"), strdup(file), nil]
        execv(options.monitorPath, argv)
        unlink(file)
        throw RuntimeError.posix(.spawn, "executing the monitor", path: options.monitorPath)
    }

    /// Starts `command` in the container with pipes (or a pty with `tty`) for its stdio.
    public func exec(_ ref: String, command: [String], tty: Bool) throws -> ExecProcess {
        let (file, initPID) = try prepareExec(ref, command: command, tty: tty)
        var parentEnds: [Int32] = []
        var childEnds: [Int32] = []
        func closeAll() { (parentEnds + childEnds).forEach { _ = close($0) } }
        do {
            if tty {
                var master: Int32 = -1, slave: Int32 = -1
                let ptmx = "/proc/\(initPID)/root/dev/pts/ptmx"
                guard skiff_open_pty(ptmx, &master, &slave) == 0 else { throw RuntimeError.posix(.spawn, "allocating a terminal", path: ptmx) }
                parentEnds = [master]
                childEnds = [slave, slave, slave]
            } else {
                for i in 0..<3 {
                    var fds: [Int32] = [-1, -1]
                    guard pipe(&fds) == 0 else { throw RuntimeError.posix(.spawn, "pipe") }
                    _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
                    _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
                    // stdin: the child reads fds[0]; stdout/stderr: the child writes fds[1].
                    parentEnds.append(i == 0 ? fds[1] : fds[0])
                    childEnds.append(i == 0 ? fds[0] : fds[1])
                }
            }
            let pid = try MonitorLauncher.startExec(monitor: options.monitorPath, spawnFile: file, stdio: childEnds)
            Set(childEnds).forEach { _ = close($0) }
            childEnds = []
            if tty { return ExecProcess(pid: pid, stdin: parentEnds[0], stdout: parentEnds[0], stderr: -1, terminal: parentEnds[0], spawnFile: file) }
            return ExecProcess(pid: pid, stdin: parentEnds[0], stdout: parentEnds[1], stderr: parentEnds[2], terminal: -1, spawnFile: file)
        } catch {
            Set(parentEnds + childEnds).forEach { _ = close($0) }
            unlink(file)
            throw error
        }
    }
}
