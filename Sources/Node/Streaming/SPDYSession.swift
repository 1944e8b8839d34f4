// The server side of a SPDY/3.1 session (spdystream's behaviour, which client-go expects):
// the client opens streams (SYN_STREAM, headers say what each is for), the server replies
// (SYN_REPLY) and both sides send data frames; FIN half-closes a stream, RST_STREAM aborts it,
// pings are echoed, GOAWAY ends the session. spdystream does no flow control (it never sends
// or honours WINDOW_UPDATE), so neither does this. The bytes travel over a plain upgraded
// connection or inside websocket binary messages (kubectl ≥ 1.31's port-forward tunnel).
//
// Threading: the session lives on its channel's event loop. Stream writes may come from any
// thread; they hop onto the loop, so frames (and the shared zlib stream) keep their order.
import NIOCore
import NIOWebSocket

final class SPDYSession: @unchecked Sendable {   // state touched on `channel.eventLoop` only
    let channel: Channel
    private var streams: [UInt32: SPDYStream] = [:]
    private var buffer = ByteBuffer()
    private let compressor = SPDYHeaderCompressor()
    private let decompressor = SPDYHeaderDecompressor()
    private var lastStreamID: UInt32 = 0
    private var readPauses = 0
    private var writableWaiters: [@Sendable () -> Void] = []
    private(set) var closed = false
    /// A new stream from the client; set its callbacks before returning (data may follow at once).
    var onStream: (SPDYStream) -> Void = { $0.reset() }
    /// The session ended (connection closed or GOAWAY).
    var onClose: () -> Void = {}

    init(channel: Channel) { self.channel = channel }

    // MARK: inbound

    func receive(_ bytes: inout ByteBuffer) {
        guard !closed else { return }
        buffer.writeBuffer(&bytes)
        do {
            while let frame = try SPDYFrame.read(from: &buffer) { try handle(frame) }
        } catch {
            send(.goAway(lastGoodID: lastStreamID, status: SPDYFrame.protocolError))
            end()
            channel.close(promise: nil)
        }
        buffer.discardReadBytes()
    }

    private func handle(_ frame: SPDYFrame) throws {
        switch frame {
        case .synStream(let id, let flags, let block):
            let headers = try decompressor.decompress(block)
            guard id & 1 == 1, id > lastStreamID, streams[id] == nil else {
                send(.rstStream(id: id, status: SPDYFrame.protocolError))
                return
            }
            lastStreamID = id
            let stream = SPDYStream(id: id, headers: headers, session: self)
            streams[id] = stream
            onStream(stream)
            if flags & SPDYFrame.flagFin != 0 { stream.remoteFinished() }
        case .data(let id, let flags, let payload):
            guard let stream = streams[id] else { return }   // a stream already reset or closed: late data is dropped
            if payload.readableBytes > 0 { stream.onData(payload) }
            if flags & SPDYFrame.flagFin != 0 { stream.remoteFinished() }
        case .headers(_, _, let block), .synReply(_, _, let block):
            _ = try decompressor.decompress(block)   // keeps the zlib stream in step; nothing to act on
        case .rstStream(let id, _):
            streams[id]?.wasReset()
        case .ping(let id):
            send(.ping(id: id))
        case .goAway:
            end()
            channel.close(promise: nil)
        case .settings, .windowUpdate, .unknown:
            break
        }
    }

    /// The connection is gone: every open stream is reset.
    func end() {
        guard !closed else { return }
        closed = true
        let open = streams.values
        streams = [:]
        open.forEach { $0.wasReset() }
        writableWaiters = []
        onClose()
    }

    func forget(_ id: UInt32) { streams[id] = nil }

    // MARK: outbound

    @discardableResult
    func send(_ frame: SPDYFrame, flush: Bool = true) -> EventLoopFuture<Void> {
        var out = channel.allocator.buffer(capacity: 16)
        frame.write(to: &out)
        return flush ? channel.writeAndFlush(out) : channel.write(out)
    }

    func reply(_ id: UInt32) {
        do { send(.synReply(id: id, flags: 0, headerBlock: try compressor.compress(SPDYHeaders()))) } catch {
            channel.close(promise: nil)
        }
    }

    /// Says goodbye (no new streams); with `closing`, closes once everything before it is written.
    func goAway(closing: Bool = true) {
        let sent = send(.goAway(lastGoodID: lastStreamID, status: 0))
        if closing { sent.whenComplete { [channel] _ in channel.close(promise: nil) } }
    }

    // MARK: back-pressure

    /// Stops reading the client (a destination is full) until as many resumeReading calls.
    func pauseReading() {
        readPauses += 1
        if readPauses == 1 { channel.setOption(.autoRead, value: false).whenComplete { _ in } }
    }

    func resumeReading() {
        guard readPauses > 0 else { return }
        readPauses -= 1
        if readPauses == 0 { channel.setOption(.autoRead, value: true).whenComplete { _ in } }
    }

    /// Runs `then` (on the loop) once the connection to the client can take more.
    func whenWritable(_ then: @escaping @Sendable () -> Void) {
        if channel.isWritable || closed { return then() }
        writableWaiters.append(then)
    }

    func writabilityChanged() {
        guard channel.isWritable else { return }
        let waiters = writableWaiters
        writableWaiters = []
        waiters.forEach { $0() }
    }

    func onLoop(_ body: @escaping @Sendable () -> Void) {
        if channel.eventLoop.inEventLoop { body() } else { channel.eventLoop.execute(body) }
    }
}

/// One stream of a session. Its callbacks run on the event loop.
final class SPDYStream: @unchecked Sendable {   // state touched on the session's event loop only
    let id: UInt32
    let headers: SPDYHeaders
    /// Strong: a thread writing to the stream keeps the session; the session drops its streams when it ends.
    private let session: SPDYSession
    private var localFinished = false, remoteDone = false, isReset = false
    var onData: (ByteBuffer) -> Void = { _ in }
    var onRemoteFin: () -> Void = {}
    var onReset: () -> Void = {}

    init(id: UInt32, headers: SPDYHeaders, session: SPDYSession) {
        self.id = id
        self.headers = headers
        self.session = session
    }

    var channel: Channel { session.channel }

    func reply() { session.reply(id) }

    /// Data to the client; the future completes once written (a writer's back-pressure).
    @discardableResult
    func write(_ bytes: ByteBuffer) -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        session.onLoop { [self] in
            guard !localFinished, !isReset, !session.closed else { return promise.fail(ChannelError.ioOnClosedChannel) }
            var rest = bytes
            var last: EventLoopFuture<Void> = channel.eventLoop.makeSucceededVoidFuture()
            while rest.readableBytes > 0, let part = rest.readSlice(length: min(rest.readableBytes, SPDYFrame.maxDataLength)) {
                last = session.send(.data(id: id, flags: 0, payload: part))
            }
            last.cascade(to: promise)
        }
        return promise.futureResult
    }

    /// Half-closes our side (FIN).
    func finish() {
        session.onLoop { [self] in
            guard !localFinished, !isReset, !session.closed else { return }
            localFinished = true
            session.send(.data(id: id, flags: SPDYFrame.flagFin, payload: ByteBuffer()))
            if remoteDone { session.forget(id) }
        }
    }

    /// Aborts the stream.
    func reset() {
        session.onLoop { [self] in
            guard !isReset else { return }
            isReset = true
            if !session.closed { session.send(.rstStream(id: id, status: SPDYFrame.cancel)) }
            session.forget(id)
        }
    }

    func remoteFinished() {
        guard !remoteDone else { return }
        remoteDone = true
        if localFinished { session.forget(id) }
        onRemoteFin()
    }

    func wasReset() {
        guard !isReset else { return }
        isReset = true
        session.forget(id)
        onReset()
    }
}

/// A SPDY session on an upgraded connection: raw bytes in and out.
final class SPDYConnectionHandler: ChannelInboundHandler, @unchecked Sendable {   // one channel's event loop
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let start: (SPDYSession) -> Void
    private var session: SPDYSession?

    /// `start` gets the session once the handler is in place (set `onStream` there).
    init(start: @escaping (SPDYSession) -> Void) { self.start = start }

    func handlerAdded(context: ChannelHandlerContext) {
        let session = SPDYSession(channel: context.channel)
        self.session = session
        start(session)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        session?.receive(&bytes)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) { session?.writabilityChanged() }

    func channelInactive(context: ChannelHandlerContext) { session?.end() }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}

/// Carries a SPDY session in websocket binary messages (kubectl's "SPDY/3.1+portforward.k8s.io"):
/// placed before an SPDYConnectionHandler, it turns frames into bytes and bytes into frames.
final class WebSocketBytesHandler: ChannelDuplexHandler, @unchecked Sendable {   // one channel's event loop
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            context.fireChannelRead(wrapInboundOut(frame.unmaskedData))
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer(bytes: [0x03, 0xE8]))
            context.writeAndFlush(wrapOutboundOut(close)).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        default:
            break
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: unwrapOutboundIn(data))), promise: promise)
    }
}
