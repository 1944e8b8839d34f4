// exec and attach over the Kubernetes websocket streaming protocol (v4/v5.channel.k8s.io):
// binary frames whose first byte is the channel — 0 stdin, 1 stdout, 2 stderr, 3 the final
// Status (JSON), 4 terminal resize ({"Width","Height"}); v5 adds 255 = "close this channel"
// (the client's end of stdin). The process runs through ContainerRuntime.exec; its output
// is pumped by threads, each frame waited for (back-pressure), the Status sent once it exited
// and its output drained.
import API
import Foundation
import NIOCore
import NIOWebSocket
import Runtime
#if canImport(Glibc)
import Glibc
#endif

final class ExecStreamHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let agent: NodeAgent
    let kind: String
    let namespace: String, pod: String, container: String?
    let command: [String]
    let tty: Bool, stdin: Bool, v5: Bool
    private var process: ExecProcess?
    /// Writes to the process's stdin, in order, off the event loop.
    private let input = DispatchQueue(label: "skiff.exec.stdin")
    private var inputOpen = true

    init(agent: NodeAgent, kind: String, namespace: String, pod: String, container: String?, command: [String],
         tty: Bool, stdin: Bool, v5: Bool) {
        self.agent = agent; self.kind = kind; self.namespace = namespace; self.pod = pod; self.container = container
        self.command = command; self.tty = tty; self.stdin = stdin; self.v5 = v5
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        guard let found = agent.findContainer(namespace: namespace, pod: pod, container: container, previous: false), found.running else {
            return finish(channel, status: Self.failure("container not found (\"\(container ?? "")\" in pod \(namespace)/\(pod))", reason: "NotFound"))
        }
        if kind == "attach" { return attach(channel, id: found.record.id) }
        let process: ExecProcess
        do {
            process = try agent.runtime.exec(found.record.id, command: command, tty: tty)
        } catch {
            return finish(channel, status: Self.failure("error executing command \(command) in container: \(error)", reason: "InternalError"))
        }
        self.process = process
        if !stdin && !tty { closeInput() }
        let outputs = tty ? [(process.terminal, UInt8(1))] : [(process.stdout, UInt8(1)), (process.stderr, UInt8(2))]
        let drained = DispatchGroup()
        for (fd, ch) in outputs {
            drained.enter()
            Thread.detachNewThread { Self.pump(fd, channel: ch, to: channel); drained.leave() }
        }
        let command = self.command
        Thread.detachNewThread { [self] in
            let code = process.wait()
            drained.wait()
            input.sync {
                if inputOpen { inputOpen = false; if !tty { close(process.stdin) } }
            }
            if !tty { close(process.stdout); close(process.stderr) } else { close(process.terminal) }
            finish(channel, status: code == 0 ? Self.success : Self.exitStatus(code, command: command))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            var bytes = frame.unmaskedData
            guard let ch = bytes.readInteger(as: UInt8.self) else { return }
            let payload = Array(bytes.readableBytesView)
            switch ch {
            case 0: write(payload)
            case 4: resize(payload)
            case 255 where v5: if payload.first == 0 { closeInput() }
            default: break
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            // The client went away: end the process (the monitor forwards the signal).
            if let process { kill(process.pid, tty ? SIGHUP : SIGTERM) }
            closeInput()
            context.close(promise: nil)
        default: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let process { kill(process.pid, tty ? SIGHUP : SIGTERM) }
        closeInput()
    }

    private func write(_ bytes: [UInt8]) {
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

    private func closeInput() {
        input.async { [self] in
            guard inputOpen, let process else { return }
            inputOpen = false
            if tty { _ = Glibc.write(process.terminal, [4], 1) } else { close(process.stdin) }   // ^D ends a terminal's input
        }
    }

    private func resize(_ payload: [UInt8]) {
        guard let process, let size = try? JSONValue.parse(payload),
              let w = size["Width"]?.intValue, let h = size["Height"]?.intValue else { return }
        process.resize(columns: UInt16(clamping: w), rows: UInt16(clamping: h))
    }

    /// attach (output only): the container's output from now on, until it exits.
    private func attach(_ channel: Channel, id: String) {
        let runtime = agent.runtime
        Thread.detachNewThread {
            var live = false
            try? runtime.logs(id, follow: true, cancelled: { !channel.isActive }, caughtUp: { live = true }) { line in
                guard live else { return }
                let text = line.complete ? line.text + "\n" : line.text
                Self.send([line.stream == .stderr ? 2 : 1] + Array(text.utf8), to: channel)
            }
            let code: Int32
            if case .exited(let e)? = runtime.list().first(where: { $0.record.id == id })?.status { code = e.exitCode } else { code = 0 }
            self.finish(channel, status: code == 0 ? Self.success : Self.exitStatus(code, command: []))
        }
    }

    // MARK: frames

    static func pump(_ fd: Int32, channel ch: UInt8, to channel: Channel) {
        var buf = [UInt8](repeating: 0, count: 32 * 1024)
        while channel.isActive {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }   // EOF (pipe) or EIO (terminal closed)
            send([ch] + buf[0..<n], to: channel)
        }
    }

    static func send(_ bytes: [UInt8], to channel: Channel) {
        let frame = WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: bytes))
        try? channel.writeAndFlush(frame).wait()
    }

    /// The Status on channel 3, then a normal close.
    private func finish(_ channel: Channel, status: JSONValue) {
        Self.send([3] + status.serialized(), to: channel)
        let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer(bytes: [0x03, 0xE8]))
        channel.writeAndFlush(close).whenComplete { _ in channel.close(promise: nil) }
    }

    static let success: JSONValue = ["metadata": .object(JSONObject()), "status": "Success"]

    static func failure(_ message: String, reason: String) -> JSONValue {
        ["metadata": .object(JSONObject()), "status": "Failure", "message": .string(message), "reason": .string(reason)]
    }

    /// What kubectl turns into its own exit code (reason NonZeroExitCode, cause ExitCode).
    static func exitStatus(_ code: Int32, command: [String]) -> JSONValue {
        ["metadata": .object(JSONObject()), "status": "Failure",
         "message": .string("command terminated with non-zero exit code: error executing command \(command), exit code \(code)"),
         "reason": "NonZeroExitCode",
         "details": ["causes": [["reason": "ExitCode", "message": .string(String(code))]]]]
    }
}
