// exec and attach over SPDY/3.1 (kubectl 1.27–1.29, and newer ones when websockets fail), as the
// kubelet's remotecommand server: the client opens one stream per role, named by its
// `streamType` header — error, stdin, stdout, stderr (not with a tty), resize (a tty, v3+) —
// and the command starts once all it asked for are open. The end: v4 writes the Status as JSON
// on the error stream (exit codes as NonZeroExitCode causes), older versions write only a
// failure's message; every stream is then finished and the session said goodbye to.
import API
import NIOCore

/// The roles of a remotecommand session's streams (their `streamType` header).
enum RemoteCommandStream: String { case error, stdin, stdout, stderr, resize }

final class SPDYRemoteCommand: @unchecked Sendable {   // the session's event loop
    static let protocols = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]
    /// How long the client has to open its streams (the kubelet's stream creation timeout).
    static let streamTimeout = TimeAmount.seconds(30)

    let agent: NodeAgent
    let request: ContainerStreamRequest
    let version: String
    private var streams: [RemoteCommandStream: SPDYStream] = [:]
    private var session: ContainerStreamSession?
    private var pendingInput: [[UInt8]] = []
    private var inputEnded = false
    private var resizeBuffer: [UInt8] = []

    init(agent: NodeAgent, request: ContainerStreamRequest, version: String) {
        self.agent = agent; self.request = request; self.version = version
    }

    var expected: Set<RemoteCommandStream> {
        var roles: Set<RemoteCommandStream> = [.error]
        if request.stdin { roles.insert(.stdin) }
        if request.stdout { roles.insert(.stdout) }
        if request.stderr && !request.tty { roles.insert(.stderr) }
        if request.tty && (version == "v3.channel.k8s.io" || version == "v4.channel.k8s.io") { roles.insert(.resize) }
        return roles
    }

    func serve(_ spdy: SPDYSession) {
        spdy.onStream = { [self] in accept($0, spdy: spdy) }
        spdy.onClose = { [self] in session?.hangUp() }
        spdy.channel.eventLoop.scheduleTask(in: Self.streamTimeout) { [self] in
            if session == nil { spdy.channel.close(promise: nil) }
        }
    }

    private func accept(_ stream: SPDYStream, spdy: SPDYSession) {
        guard let role = stream.headers.first("streamType").flatMap(RemoteCommandStream.init(rawValue:)), expected.contains(role), streams[role] == nil, session == nil else { return stream.reset() }
        stream.reply()
        streams[role] = stream
        switch role {
        case .stdin:
            stream.onData = { [self] data in
                let bytes = Array(data.readableBytesView)
                if let session { session.write(bytes) } else { pendingInput.append(bytes) }
            }
            stream.onRemoteFin = { [self] in
                if let session { session.closeInput() } else { inputEnded = true }
            }
        case .resize:
            stream.onData = { [self] data in resized(Array(data.readableBytesView)) }
        default:
            break
        }
        if expected.isSubset(of: streams.keys) { start(spdy) }
    }

    private func start(_ spdy: SPDYSession) {
        guard let error = streams[.error] else { return }
        let output = SPDYCommandOutput(spdy: spdy, stdout: streams[.stdout], stderr: streams[.stderr], error: error,
                                       others: [streams[.stdin], streams[.resize]].compactMap { $0 },
                                       statusAsJSON: version == "v4.channel.k8s.io")
        let session = ContainerStreamSession(agent: agent, request: request, output: output)
        self.session = session
        session.start()
        pendingInput.forEach(session.write)
        pendingInput = []
        if inputEnded { session.closeInput() }
    }

    /// Resize messages are JSON objects one after another (json.Encoder: one a line).
    private func resized(_ bytes: [UInt8]) {
        resizeBuffer += bytes
        while let end = resizeBuffer.firstIndex(of: 0x0a) {
            session?.resize(Array(resizeBuffer[..<end]))
            resizeBuffer.removeSubrange(...end)
        }
        if resizeBuffer.count > 4096 { resizeBuffer = [] }
    }
}

struct SPDYCommandOutput: ContainerStreamOutput {
    let spdy: SPDYSession
    let stdout: SPDYStream?, stderr: SPDYStream?, error: SPDYStream
    let others: [SPDYStream]
    let statusAsJSON: Bool
    /// After the goodbye the client closes; a client that does not is cut off after this.
    static let lingering = TimeAmount.seconds(2)

    func send(_ stream: ContainerOutputStream, _ bytes: ArraySlice<UInt8>) -> Bool {
        guard let target = stream == .stdout ? stdout : stderr else { return true }   // a stream not asked for
        let written = target.write(ByteBuffer(bytes: bytes))
        if spdy.channel.eventLoop.inEventLoop { return true }
        return (try? written.wait()) != nil
    }

    func finish(_ status: StreamStatus) {
        if statusAsJSON {
            error.write(ByteBuffer(bytes: status.json.serialized()))
        } else if let message = status.failure {
            error.write(ByteBuffer(string: message))
        }
        ([error] + [stdout, stderr].compactMap { $0 } + others).forEach { $0.finish() }
        let spdy = self.spdy
        spdy.onLoop {
            spdy.goAway(closing: false)
            spdy.channel.eventLoop.scheduleTask(in: Self.lingering) { spdy.channel.close(promise: nil) }
        }
    }
}
