// The cluster DNS server: UDP and TCP on one port, one event loop. A query is parsed, answered
// from ClusterRecords when the name is the cluster's, else forwarded. Packets that don't parse
// are dropped (a flood of garbage costs a parse each, nothing more); UDP answers are flushed once
// per read burst so the kernel gets them in one sendmmsg.
import Foundation
import NIOCore
import NIOPosix

public struct ClusterDNSConfig: Sendable {
    public var domain = "cluster.local"
    public var ttl: UInt32 = 5
    /// The address to listen on (UDP and TCP).
    public var host = "0.0.0.0"
    /// 0: any free port (start() returns it).
    public var port = 53
    /// "IP[:PORT]" resolvers for other names; nil: the nameservers of `resolvConf`.
    public var upstreams: [String]?
    public var resolvConf = "/etc/resolv.conf"
    public init() {}
}

public final class ClusterDNS: @unchecked Sendable {
    public let config: ClusterDNSConfig
    public let records: ClusterRecords
    let apiServer: String?
    let log: @Sendable (String) -> Void
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channels: [Channel] = []
    private var forwarder: Forwarder?
    private var watch: ClusterWatch?

    /// Fed from the API server at `apiServer` (nil: from `records` as the caller fills them).
    public init(config: ClusterDNSConfig, apiServer: String?, records: ClusterRecords? = nil, log: @escaping @Sendable (String) -> Void) {
        self.config = config
        self.apiServer = apiServer
        self.records = records ?? ClusterRecords(zone: config.domain, ttl: config.ttl, serial: UInt32(Date().timeIntervalSince1970))
        self.log = log
    }

    /// Binds UDP and TCP and starts the watch; returns the port served on.
    @discardableResult
    public func start() throws -> Int {
        let loop = group.next()
        let upstreams = try resolvers()
        let forwarder = Forwarder(loop: loop, upstreams: upstreams)
        try forwarder.start()
        self.forwarder = forwarder
        // Port 0: UDP picks a free port, and TCP may find that number taken; then pick again.
        var attempt = 0
        while true {
            let udp = try bindUDP(loop, port: config.port)
            do {
                channels = [udp, try bindTCP(loop, port: udp.localAddress?.port ?? config.port)]
                break
            } catch let error as IOError where error.errnoCode == EADDRINUSE && config.port == 0 && attempt < 10 {
                try? udp.close().wait()
                attempt += 1
            } catch {
                try? udp.close().wait()
                throw error
            }
        }
        let port = channels[0].localAddress?.port ?? config.port
        if upstreams.isEmpty { log("warning: no upstream resolvers: names outside \(config.domain) get SERVFAIL") }
        if let apiServer {
            let watch = ClusterWatch(server: apiServer, records: records, log: log)
            watch.start()
            self.watch = watch
        } else {
            records.synced = true
        }
        return port
    }

    private func bindUDP(_ loop: EventLoop, port: Int) throws -> Channel {
        try DatagramBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .channelOption(ChannelOptions.datagramVectorReadMessageCount, value: 32)
            .channelOption(ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 32 * 2048))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(UDPQueryHandler(self)) }
            }
            .bind(host: config.host, port: port).wait()
    }

    private func bindTCP(_ loop: EventLoop, port: Int) throws -> Channel {
        try ServerBootstrap(group: loop)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: .seconds(10)),
                        ByteToMessageHandler(DNSFrameDecoder()),
                        TCPQueryHandler(self),
                    ])
                }
            }
            .bind(host: config.host, port: port).wait()
    }

    public func stop() {
        watch?.stop()
        for c in channels { try? c.close().wait() }
        forwarder?.stop()
        try? group.syncShutdownGracefully()
    }

    /// The upstreams, never this server itself (a host resolv.conf naming 127.0.0.1 would loop).
    func resolvers() throws -> [SocketAddress] {
        let listed: [String]
        if let configured = config.upstreams {
            listed = configured
        } else {
            let text = (try? String(contentsOfFile: config.resolvConf, encoding: .utf8)) ?? ""
            listed = text.split(separator: "\n").compactMap { line in
                let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                return f.count >= 2 && f[0] == "nameserver" && !f[1].contains(":") ? String(f[1]) : nil
            }
        }
        return try listed.compactMap { entry in
            let parts = entry.split(separator: ":")
            let host = String(parts[0]), port = parts.count > 1 ? Int(parts[1]) ?? 53 : 53
            if port == config.port, host == config.host || host.hasPrefix("127.") && config.host == "0.0.0.0" { return nil }
            return try SocketAddress(ipAddress: host, port: port)
        }
    }

    /// The response to a packet when it is known at once; forwarded queries answer via `later`.
    func answer(_ packet: ByteBuffer, udp: Bool, later: @escaping @Sendable ([UInt8]) -> Void) -> [UInt8]? {
        let parsed = packet.withUnsafeReadableBytes { DNSQuery.parse($0) }
        let q: DNSQuery
        switch parsed {
        case .success(let query): q = query
        case .failure(.notImplemented), .failure(.badQuestionCount):
            let head = Array(packet.readableBytesView.prefix(4))
            let id = UInt16(head[0]) << 8 | UInt16(head[1]), flags = UInt16(head[2]) << 8 | UInt16(head[3])
            return DNSWriter.error(id: id, flags: flags, rcode: parsed == .failure(.notImplemented) ? RCode.notImp : RCode.formErr)
        case .failure: return nil
        }
        let limit = udp ? q.udpLimit : 65535
        switch records.resolve(q) {
        case .answer(let a):
            if let forwarder, let target = externalTarget(a, q) {
                chase(q, a, target: target, forwarder: forwarder, limit: limit, reply: later)
                return nil
            }
            return DNSWriter.response(to: q, a, limit: limit)
        case .forward:
            guard q.recursionDesired, let forwarder else {
                return DNSWriter.error(id: q.id, flags: q.flags, rcode: RCode.refused, query: q)
            }
            forwarder.forward(q, packet: Array(packet.readableBytesView), limit: limit, reply: later)
            return nil
        }
    }
}

extension ClusterDNS {
    /// The target of an ExternalName answer that only an upstream can resolve.
    func externalTarget(_ a: DNSAnswer, _ q: DNSQuery) -> String? {
        guard q.qtype == RRType.a || q.qtype == RRType.aaaa || q.qtype == RRType.any,
              case .cname(let target) = a.answers.last?.data,
              target != config.domain, !target.hasSuffix("." + config.domain) else { return nil }
        return target
    }

    /// Asks upstream for an ExternalName's target and answers with the CNAME and what came back
    /// (stub resolvers such as glibc's do not follow a CNAME themselves).
    func chase(_ q: DNSQuery, _ a: DNSAnswer, target: String, forwarder: Forwarder, limit: Int,
               reply: @escaping @Sendable ([UInt8]) -> Void) {
        guard let (upstreamQuery, packet) = UpstreamAnswers.query(target, type: q.qtype == RRType.any ? RRType.a : q.qtype) else {
            reply(DNSWriter.response(to: q, a, limit: limit))
            return
        }
        forwarder.forward(upstreamQuery, packet: packet, limit: 65535) { bytes in
            var answer = a
            if let (rcode, records) = UpstreamAnswers.read(bytes) {
                answer.answers += records
                answer.rcode = rcode == RCode.nxDomain ? RCode.nxDomain : answer.rcode
            }
            reply(DNSWriter.response(to: q, answer, limit: limit))
        }
    }
}

final class UDPQueryHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let dns: ClusterDNS
    init(_ dns: ClusterDNS) { self.dns = dns }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let remote = envelope.remoteAddress, channel = context.channel
        let now = dns.answer(envelope.data, udp: true) { bytes in
            var out = channel.allocator.buffer(capacity: bytes.count)
            out.writeBytes(bytes)
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: out), promise: nil)
        }
        guard let bytes = now else { return }
        var out = context.channel.allocator.buffer(capacity: bytes.count)
        out.writeBytes(bytes)
        context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: out)), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    /// A send to a vanished client or a bad packet must not close the server's socket.
    func errorCaught(context: ChannelHandlerContext, error: Error) {}
}

/// TCP: each message is preceded by its 16-bit length (RFC 1035 4.2.2).
struct DNSFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
              buffer.readableBytes >= 2 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

final class TCPQueryHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let dns: ClusterDNS
    init(_ dns: ClusterDNS) { self.dns = dns }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let channel = context.channel
        let send: @Sendable ([UInt8]) -> Void = { bytes in
            var out = channel.allocator.buffer(capacity: bytes.count + 2)
            out.writeInteger(UInt16(bytes.count))
            out.writeBytes(bytes)
            channel.writeAndFlush(out, promise: nil)
        }
        if let bytes = dns.answer(unwrapInboundIn(data), udp: false, later: send) { send(bytes) }
    }

    /// Idle connections are closed after 10 s (RFC 7766 lets servers do so).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}
