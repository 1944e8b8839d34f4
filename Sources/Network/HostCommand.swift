// Running a host tool (CNI plugins, ip, iptables) as a child process: its input on stdin, its
// stdout and stderr collected. One place for the pipe handling every caller needs.
// posix_spawn (C forks and execs; no Swift runs in the child) and one poll loop on the calling
// thread: a pod's network costs four plugin runs, and Foundation's Process added a run-loop
// thread, a stderr thread and a walk over /proc/self/fd to each.
import CLinux
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum HostCommand {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `path` with `arguments`; `environment` nil inherits ours. A tool that can't start
    /// reports status 127 and why on stderr.
    public static func run(_ path: String, _ arguments: [String] = [], input: [UInt8]? = nil,
                           environment: [String: String]? = nil) -> Result {
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard skiff_pipe_cloexec(&inPipe) == 0 else { return failure(path, "pipe", errno) }
        guard skiff_pipe_cloexec(&outPipe) == 0 else { closeAll(inPipe); return failure(path, "pipe", errno) }
        guard skiff_pipe_cloexec(&errPipe) == 0 else { closeAll(inPipe + outPipe); return failure(path, "pipe", errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        skiff_spawn_closefrom(&actions, 3)
        var attr = posix_spawnattr_t()
        skiff_spawnattr_init(&attr, 0)
        defer { posix_spawnattr_destroy(&attr) }

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { env in env.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer {
            for p in argv { free(p) }
            for p in envp ?? [] { free(p) }
        }
        var pid: pid_t = 0
        let rc = envp.map { e in posix_spawn(&pid, path, &actions, &attr, argv, e) } ?? posix_spawn(&pid, path, &actions, &attr, argv, environ)
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard rc == 0 else {
            closeAll([inPipe[1], outPipe[0], errPipe[0]])
            return failure(path, "posix_spawn", rc)
        }
        let (out, err) = exchange(input: input ?? [], stdin: inPipe[1], stdout: outPipe[0], stderr: errPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: code, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }

    /// Writes `input` and reads both outputs at once until the child closes them (a tool that
    /// fills one pipe while we wait on another must not block either of us). Closes the three.
    private static func exchange(input: [UInt8], stdin: Int32, stdout: Int32, stderr: Int32) -> ([UInt8], [UInt8]) {
        var out: [UInt8] = [], err: [UInt8] = []
        var written = 0
        var stdinFD = stdin
        if input.isEmpty { close(stdinFD); stdinFD = -1 }
        _ = fcntl(stdin, F_SETFL, O_NONBLOCK)   // a full pipe must not block us while the child writes
        // A child that exits without reading its input: the write fails with EPIPE on this
        // thread alone (SIGPIPE blocked, and taken off again), the daemon doesn't die of it.
        var pipeSignal = sigset_t(), previous = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        defer {
            var pending = sigset_t(), now = timespec()
            sigpending(&pending)
            if sigismember(&pending, SIGPIPE) == 1 { _ = sigtimedwait(&pipeSignal, nil, &now) }
            pthread_sigmask(SIG_SETMASK, &previous, nil)
        }
        var open: (out: Bool, err: Bool) = (true, true)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while open.out || open.err || stdinFD >= 0 {
            var fds = [pollfd(fd: stdout, events: Int16(POLLIN), revents: 0), pollfd(fd: stderr, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)]
            if !open.out { fds[0].fd = -1 }
            if !open.err { fds[1].fd = -1 }
            if poll(&fds, 3, -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for (i, fd) in [stdout, stderr].enumerated() where fds[i].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    if i == 0 { out += buffer[0..<n] } else { err += buffer[0..<n] }
                } else if n == 0 || errno != EINTR {
                    if i == 0 { open.out = false } else { open.err = false }
                }
            }
            if stdinFD >= 0, fds[2].revents != 0 {
                let n = input.withUnsafeBytes { write(stdinFD, $0.baseAddress! + written, $0.count - written) }
                if n > 0 { written += n }
                if written == input.count || (n < 0 && errno != EINTR && errno != EAGAIN) {
                    close(stdinFD)
                    stdinFD = -1
                }
            }
        }
        if stdinFD >= 0 { close(stdinFD) }
        close(stdout)
        close(stderr)
        return (out, err)
    }

    private static func failure(_ path: String, _ call: String, _ code: Int32) -> Result {
        Result(status: 127, stdout: "", stderr: "\(path): \(call): \(String(cString: strerror(code)))")
    }

    private static func closeAll(_ fds: [Int32]) { for fd in fds where fd >= 0 { close(fd) } }
}
