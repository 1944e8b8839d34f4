// exec and attach, whatever carries them (websocket channels, SPDY streams): the process runs
// through ContainerRuntime.exec; its output is pumped by threads, each write waited for
// (back-pressure), and the final Status sent once it exited and its output drained. attach
// connects to the container's own stdio through its monitor (a container with `stdin: true`):
// input, terminal size and live output; a container without stdin gets, as with the kubelet, no
// input — its output from now on, followed in its log. The transport calls in (stdin, its end,
// resize, hang-up) from its event loop and gets output through a `ContainerStreamOutput`.
import API
import Foundation
import Runtime
#if canImport(Glibc)
import Glibc
#endif

enum ContainerOutputStream { case stdout, stderr }

/// Where a session's output goes.
protocol ContainerStreamOutput: Sendable {
    /// Writes and waits until written; false once the client is gone.
    func send(_ stream: ContainerOutputStream, _ bytes: ArraySlice<UInt8>) -> Bool
    /// The final Status (Success, or Failure with the exit code), then the end of the connection.
    func finish(_ status: StreamStatus)
}

/// A metav1.Status for the client, and its message when it is a failure.
struct StreamStatus: Sendable {
    let json: JSONValue
    let failure: String?
}

/// What the client asked for: exec or attach, of which container, with which stdio.
struct ContainerStreamRequest: Sendable {
    var kind: String
    var namespace: String, pod: String, container: String?
    var command: [String]
    var tty: Bool, stdin: Bool
    /// SPDY clients name the output streams they will open (websocket clients get both).
    var stdout: Bool, stderr: Bool

    /// From the node path (/exec|attach/ns/pod[/container]) and query (a short path names no container).
    init(_ request: NodeRequest) {
        let s = request.segments + Array(repeating: "", count: max(0, 3 - request.segments.count))
        kind = s[0]; namespace = s[1]; pod = s[2]; container = s.count > 3 ? s[3] : nil
        command = request.all("command")
        tty = request.flag("tty")
        stdin = request.flag("stdin") || request.flag("input")
        stdout = request.flag("stdout") || request.flag("output")
        stderr = request.flag("stderr") || request.flag("error")
    }
}

final class ContainerStreamSession: @unchecked Sendable {   // process/input state: the transport's event loop, or `input`
    let agent: NodeAgent
    let request: ContainerStreamRequest
    let output: ContainerStreamOutput
    private var process: ExecProcess?
    /// attach to a container with stdin: its monitor's attach socket.
    private var attached: AttachConnection?
    /// Writes to the process's stdin, in order, off the event loop.
    private let input = DispatchQueue(label: "skiff.exec.stdin")
    private var inputOpen = true
    /// Set once the process is reaped: a client leaving afterwards must not signal its (reusable) pid.
    private let reaped = NSLock()
    private var exited = false

    init(agent: NodeAgent, request: ContainerStreamRequest, output: ContainerStreamOutput) {
        self.agent = agent; self.request = request; self.output = output
    }

    func start() {
        let r = request
        guard let found = agent.findContainer(namespace: r.namespace, pod: r.pod, container: r.container, previous: false), found.running else {
            return output.finish(Self.failure("container not found (\"\(r.container ?? "")\" in pod \(r.namespace)/\(r.pod))", reason: "NotFound"))
        }
        if r.kind == "attach" { return attach(id: found.record.id) }
        let process: ExecProcess
        do {
            process = try agent.runtime.exec(found.record.id, command: r.command, tty: r.tty)
        } catch {
            return output.finish(Self.failure("error executing command \(r.command) in container: \(error)", reason: "InternalError"))
        }
        self.process = process
        if !r.stdin && !r.tty { closeInput() }
        let outputs: [(Int32, ContainerOutputStream)] = r.tty ? [(process.terminal, .stdout)] : [(process.stdout, .stdout), (process.stderr, .stderr)]
        let drained = DispatchGroup()
        for (fd, stream) in outputs {
            drained.enter()
            Thread.detachNewThread { [output] in Self.pump(fd, to: stream, output); drained.leave() }
        }
        Thread.detachNewThread { [self] in
            let code = process.wait()
            reaped.withLock { exited = true }
            drained.wait()
            input.sync {
                if inputOpen { inputOpen = false; if !r.tty { close(process.stdin) } }
            }
            if !r.tty { close(process.stdout); close(process.stderr) } else { close(process.terminal) }
            output.finish(code == 0 ? Self.success : Self.exitStatus(code, command: r.command))
        }
    }

    func write(_ bytes: [UInt8]) {
        if let attached, !bytes.isEmpty { return input.async { _ = attached.write(bytes) } }
        guard let process, !bytes.isEmpty else { return }
        input.async { [self] in
            guard inputOpen else { return }
            var off = 0
            while off < bytes.count {
                let n = bytes[off...].withUnsafeBytes { Glibc.write(process.stdin, $0.baseAddress, $0.count) }
                if n < 0 { if errno == EINTR { continue }; return }
                off += n
            }
        }
    }

    func closeInput() {
        input.async { [self] in
            if let attached, inputOpen { inputOpen = false; return attached.endStdin() }
            guard inputOpen, let process else { return }
            inputOpen = false
            if request.tty { _ = Glibc.write(process.terminal, [4], 1) } else { close(process.stdin) }   // ^D ends a terminal's input
        }
    }

    /// A resize message: client-go's remotecommand.TerminalSize, `{"Width":80,"Height":24}`.
    struct TerminalSize: Decodable {
        let width: Int64
        let height: Int64
        enum CodingKeys: String, CodingKey { case width = "Width", height = "Height" }
    }

    func resize(_ payload: [UInt8]) {
        guard let size = try? JSONDecoder().decode(TerminalSize.self, from: Data(payload)) else { return }
        let columns = UInt16(clamping: size.width), rows = UInt16(clamping: size.height)
        if let attached { return input.async { attached.resize(columns: columns, rows: rows) } }
        process?.resize(columns: columns, rows: rows)
    }

    /// The client went away: end the exec'd process (the monitor forwards the signal), or leave
    /// the attached container (for the monitor, the end of this client's stdin).
    func hangUp() {
        if let process { reaped.withLock { if !exited { kill(process.pid, request.tty ? SIGHUP : SIGTERM) } } }
        attached?.hangUp()
        closeInput()
    }

    private func attach(id: String) {
        let runtime = agent.runtime, output = self.output
        let connection: AttachConnection?
        do {
            connection = try runtime.attach(id)
        } catch {
            return output.finish(Self.failure("error attaching to container: \(error)", reason: "InternalError"))
        }
        guard let connection else { return followOutput(id: id) }
        attached = connection
        if request.stdin { input.async { _ = connection.claimStdin() } }
        Thread.detachNewThread {
            while let (stream, bytes) = connection.receive() {
                if !output.send(stream == .stderr ? .stderr : .stdout, bytes[...]) { connection.hangUp(); break }
            }
            output.finish(Self.attachEnd(id, runtime))
        }
    }

    /// attach to a container without stdin: its output from now on, until it exits.
    private func followOutput(id: String) {
        let runtime = agent.runtime, output = self.output
        Thread.detachNewThread {
            var live = false, open = true
            try? runtime.logs(id, follow: true, cancelled: { !open }, caughtUp: { live = true }) { line in
                guard live else { return }
                let text = line.complete ? line.text + "\n" : line.text
                open = output.send(line.stream == .stderr ? .stderr : .stdout, ArraySlice(text.utf8))
            }
            output.finish(Self.attachEnd(id, runtime))
        }
    }

    /// Success, or the exit code of a container that failed while attached.
    static func attachEnd(_ id: String, _ runtime: ContainerRuntime) -> StreamStatus {
        let code: Int32
        if case .exited(let e)? = runtime.list().first(where: { $0.record.id == id })?.status { code = e.exitCode } else { code = 0 }
        return code == 0 ? success : exitStatus(code, command: [])
    }

    static func pump(_ fd: Int32, to stream: ContainerOutputStream, _ output: ContainerStreamOutput) {
        var buf = [UInt8](repeating: 0, count: 32 * 1024)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }   // EOF (pipe) or EIO (terminal closed)
            if !output.send(stream, buf[0..<n]) { return }
        }
    }

    // MARK: statuses

    static let success = StreamStatus(json: ["metadata": .object(JSONObject()), "status": "Success"], failure: nil)

    static func failure(_ message: String, reason: String) -> StreamStatus {
        StreamStatus(json: ["metadata": .object(JSONObject()), "status": "Failure", "message": .string(message), "reason": .string(reason)],
                     failure: message)
    }

    /// What kubectl turns into its own exit code (reason NonZeroExitCode, cause ExitCode).
    static func exitStatus(_ code: Int32, command: [String]) -> StreamStatus {
        let message = "command terminated with non-zero exit code: error executing command \(command), exit code \(code)"
        let json: JSONValue = ["metadata": .object(JSONObject()), "status": "Failure", "message": .string(message), "reason": "NonZeroExitCode",
                               "details": ["causes": [["reason": "ExitCode", "message": .string(String(code))]]]]
        return StreamStatus(json: json, failure: message)
    }
}
