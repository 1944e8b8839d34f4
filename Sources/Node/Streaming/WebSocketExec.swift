// exec and attach over the Kubernetes websocket streaming protocol (v4/v5.channel.k8s.io, kubectl
// ≥ 1.30): binary frames whose first byte is the channel — 0 stdin, 1 stdout, 2 stderr, 3 the
// final Status (JSON), 4 terminal resize ({"Width","Height"}); v5 adds 255 = "close this
// channel" (the client's end of stdin). The session itself is ContainerStreamSession.
import API
import NIOCore
import NIOWebSocket

final class ExecStreamHandler: ChannelInboundHandler, @unchecked Sendable {   // one channel's event loop
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let agent: NodeAgent
    let request: ContainerStreamRequest
    let v5: Bool
    private var session: ContainerStreamSession?

    init(agent: NodeAgent, request: ContainerStreamRequest, v5: Bool) {
        self.agent = agent; self.request = request; self.v5 = v5
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let session = ContainerStreamSession(agent: agent, request: request, output: WebSocketOutput(channel: context.channel))
        self.session = session
        session.start()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            var bytes = frame.unmaskedData
            guard let ch = bytes.readInteger(as: UInt8.self) else { return }
            let payload = Array(bytes.readableBytesView)
            switch ch {
            case 0: session?.write(payload)
            case 4: session?.resize(payload)
            case 255 where v5: if payload.first == 0 { session?.closeInput() }
            default: break
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            session?.hangUp()
            context.close(promise: nil)
        default: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) { session?.hangUp() }
}

/// Output as channel-prefixed binary frames; the Status on channel 3, then a normal close.
struct WebSocketOutput: ContainerStreamOutput {
    let channel: Channel

    func send(_ stream: ContainerOutputStream, _ bytes: ArraySlice<UInt8>) -> Bool {
        guard channel.isActive else { return false }
        return write([stream == .stderr ? 2 : 1] + bytes)
    }

    private func write(_ bytes: [UInt8]) -> Bool {
        let frame = WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: bytes))
        let written = channel.writeAndFlush(frame)
        if channel.eventLoop.inEventLoop { return true }   // never block the loop (an early failure is sent from it)
        return (try? written.wait()) != nil
    }

    func finish(_ status: StreamStatus) {
        _ = write([3] + status.json.serialized())
        let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer(bytes: [0x03, 0xE8]))
        channel.writeAndFlush(close).whenComplete { [channel] _ in channel.close(promise: nil) }
    }
}
