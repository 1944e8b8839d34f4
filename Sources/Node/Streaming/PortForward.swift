// pods/portforward, as the kubelet serves it: over one SPDY session (plain, or tunnelled in a
// websocket) the client opens a pair of streams per connection — `streamType` error and data,
// the same `requestID`, the pod `port`. Once both are open the agent connects to
// 127.0.0.1:port inside the pod's network namespace (ProbeAction.connect: a fresh thread enters the
// namespace only to create the socket) and copies bytes both ways; the client's FIN shuts the
// pod socket's write side, the pod's EOF finishes the data stream. A failure is written as text
// on the error stream ("error forwarding port …"), which kubectl shows; the session goes on.
import Foundation
import NIOCore
import NIOPosix

final class SPDYPortForward: @unchecked Sendable {   // the session's event loop
    static let protocolName = "portforward.k8s.io"
    static let connectTimeout = 5.0

    let agent: NodeAgent
    let namespace: String, pod: String
    private var pairs: [String: ForwardedConnection] = [:]

    init(agent: NodeAgent, namespace: String, pod: String) {
        self.agent = agent; self.namespace = namespace; self.pod = pod
    }

    /// Serves the session; `transport` names the carrier in the agent's log ("SPDY", "websocket").
    func serve(_ spdy: SPDYSession, transport: String) {
        agent.log("port-forward to \(namespace)/\(pod) over \(transport)")
        spdy.onStream = { [self] in accept($0, spdy: spdy) }
        spdy.onClose = { [self] in pairs = [:] }
    }

    private func accept(_ stream: SPDYStream, spdy: SPDYSession) {
        guard let type = stream.headers.first("streamType"), type == "error" || type == "data",
              let request = stream.headers.first("requestID"),
              let port = stream.headers.first("port").flatMap(Int.init), (1...65535).contains(port) else { return stream.reset() }
        let pair = pairs[request] ?? ForwardedConnection(port: port, spdy: spdy)
        guard pair.port == port, (type == "error" ? pair.error : pair.data) == nil else { return stream.reset() }
        stream.reply()
        pairs[request] = pair
        if type == "error" { pair.error = stream } else { pair.adopt(data: stream) }
        guard let error = pair.error, pair.data != nil else { return }
        pairs[request] = nil
        connect(pair, error: error)
    }

    private func connect(_ pair: ForwardedConnection, error: SPDYStream) {
        let target = agent.podSandbox(namespace: namespace, pod: pod)
        let (namespace, pod, port) = (self.namespace, self.pod, pair.port)
        let loop = pair.spdy.channel.eventLoop
        Thread.detachNewThread {
            func fail(_ why: String) {
                let message = "error forwarding port \(port) to pod \(namespace)/\(pod), uid \(target?.uid ?? ""): \(why)"
                loop.execute { pair.fail(message, error: error) }
            }
            guard let target else { return fail("the pod has no running sandbox on this node") }
            let fd = ProbeAction.connect(host: "127.0.0.1", port: port, netnsPID: target.pid, timeout: Self.connectTimeout)
            guard fd >= 0 else {
                return fail("failed to connect to localhost:\(port) inside the pod's network namespace: "
                            + "dial tcp4 127.0.0.1:\(port): connect: \(String(cString: strerror(-fd)).lowercased())")   // Go's wording
            }
            ClientBootstrap(group: loop)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(PodSocketHandler(pair: pair, error: error)) }
                }
                .withConnectedSocket(fd)
                .whenFailure { e in close(fd); fail("\(e)") }
        }
    }
}

/// One forwarded connection: its streams, and the pod socket once connected. Event loop only.
final class ForwardedConnection: @unchecked Sendable {
    let port: Int
    let spdy: SPDYSession
    var error: SPDYStream?
    private(set) var data: SPDYStream?
    private var pod: Channel?
    private var pending: [ByteBuffer] = []
    private var clientFinished = false, done = false
    private var pausedClient = false

    init(port: Int, spdy: SPDYSession) { self.port = port; self.spdy = spdy }

    func adopt(data stream: SPDYStream) {
        data = stream
        stream.onData = { [self] bytes in
            if let pod { toPod(bytes, pod) } else { pending.append(bytes) }
        }
        stream.onRemoteFin = { [self] in
            clientFinished = true
            pod?.close(mode: .output, promise: nil)
        }
        stream.onReset = { [self] in
            done = true
            pod?.close(promise: nil)
            resumeClient()
        }
    }

    func connected(_ channel: Channel) {
        guard pod == nil else { return }
        guard !done else { return channel.close(promise: nil) }
        pod = channel
        pending.forEach { toPod($0, channel) }
        pending = []
        if clientFinished { channel.close(mode: .output, promise: nil) }
    }

    /// Client → pod; a full pod socket stops reading the client until it drains.
    private func toPod(_ bytes: ByteBuffer, _ pod: Channel) {
        pod.writeAndFlush(bytes, promise: nil)
        if !pod.isWritable && !pausedClient { pausedClient = true; spdy.pauseReading() }
    }

    func podWritable() { resumeClient() }

    private func resumeClient() {
        if pausedClient { pausedClient = false; spdy.resumeReading() }
    }

    /// Pod → client: false when the client can take no more for now.
    func fromPod(_ bytes: ByteBuffer) -> Bool {
        data?.write(bytes)
        return spdy.channel.isWritable
    }

    /// The pod closed its side (or the socket failed): both streams end.
    func podFinished() {
        guard !done else { return }
        done = true
        data?.finish()
        error?.finish()
        resumeClient()
    }

    func fail(_ message: String, error: SPDYStream) {
        error.write(ByteBuffer(string: message))
        error.finish()
        data?.finish()
        done = true
    }
}

/// The pod side of a forwarded connection.
final class PodSocketHandler: ChannelInboundHandler, @unchecked Sendable {   // its channel's event loop
    typealias InboundIn = ByteBuffer
    let pair: ForwardedConnection

    init(pair: ForwardedConnection, error: SPDYStream) { self.pair = pair }

    func channelActive(context: ChannelHandlerContext) { pair.connected(context.channel) }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { pair.connected(context.channel) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !pair.fromPod(unwrapInboundIn(data)) else { return }
        let channel = context.channel
        channel.setOption(.autoRead, value: false).whenComplete { _ in }
        pair.spdy.whenWritable { channel.setOption(.autoRead, value: true).whenComplete { _ in } }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            pair.podFinished()
            context.close(promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pair.podWritable() }
    }

    func channelInactive(context: ChannelHandlerContext) { pair.podFinished() }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}

extension NodeAgent {
    /// The pod's running sandbox on this node: its uid prefix and its init's pid (whose network
    /// namespace is the pod's).
    func podSandbox(namespace: String, pod: String) -> (uid: String, pid: Int32)? {
        let sandboxes = runtime.list().compactMap { r, s -> (ContainerName, Int32)? in
            guard let n = ContainerName(parsing: r.name), n.namespace == namespace, n.pod == pod,
                  n.container == PodSandbox.containerName, case .running(let pid) = s else { return nil }
            return (n, pid)
        }
        return sandboxes.max { $0.0.attempt < $1.0.attempt }.map { ($0.0.uid, $0.1) }
    }
}
