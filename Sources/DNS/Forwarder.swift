// Names outside the cluster go to the upstream resolvers: the query is sent on as the client
// wrote it (its EDNS size included) under an ID of ours, the answer comes back under the client's,
// and answers are kept for their TTL (at most 5 minutes) so repeated lookups don't leave the host.
// A resolver that does not answer in 2 s is skipped for the next one; when none answers, SERVFAIL.
// Everything here runs on the server's one event loop.
import NIOCore
import NIOPosix

final class Forwarder: @unchecked Sendable {
    let loop: EventLoop
    let upstreams: [SocketAddress]
    private var channel: Channel?
    private var pending: [UInt16: Pending] = [:]
    private var cache = ResponseCache(capacity: 10_000)
    static let timeout = TimeAmount.seconds(2)

    struct Pending {
        var query: DNSQuery
        var packet: [UInt8]
        var limit: Int
        var attempt: Int
        var timer: Scheduled<Void>?
        var reply: @Sendable ([UInt8]) -> Void
    }

    init(loop: EventLoop, upstreams: [SocketAddress]) {
        self.loop = loop
        self.upstreams = upstreams
    }

    func start() throws {
        guard !upstreams.isEmpty else { return }
        channel = try DatagramBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(UpstreamHandler(self)) }
            }
            .bind(host: "0.0.0.0", port: 0).wait()
    }

    func stop() { try? channel?.close().wait() }

    /// Answers from the cache or asks upstream; `reply` gets the client's response bytes.
    func forward(_ q: DNSQuery, packet: [UInt8], limit: Int, reply: @escaping @Sendable ([UInt8]) -> Void) {
        loop.assertInEventLoop()
        let key = ResponseCache.Key(q)
        if let cached = cache.get(key, now: NIODeadline.now()) {
            reply(Self.fit(cached, to: q, limit: limit))
            return
        }
        guard channel != nil else { reply(DNSWriter.error(id: q.id, flags: q.flags, rcode: RCode.servFail, query: q)); return }
        var id = UInt16.random(in: 0...UInt16.max)
        while pending[id] != nil { id &+= 1 }
        var out = packet
        out[0] = UInt8(id >> 8); out[1] = UInt8(id & 0xff)
        pending[id] = Pending(query: q, packet: out, limit: limit, attempt: 0, reply: reply)
        send(id)
    }

    private func send(_ id: UInt16) {
        guard var p = pending[id], let channel else { return }
        let upstream = upstreams[p.attempt % upstreams.count]
        var buffer = channel.allocator.buffer(capacity: p.packet.count)
        buffer.writeBytes(p.packet)
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: upstream, data: buffer), promise: nil)
        p.timer = loop.scheduleTask(in: Self.timeout) { [self] in self.expired(id) }
        pending[id] = p
    }

    private func expired(_ id: UInt16) {
        guard var p = pending[id] else { return }
        p.attempt += 1
        if p.attempt < max(2, upstreams.count) {
            pending[id] = p
            send(id)
        } else {
            pending[id] = nil
            p.reply(DNSWriter.error(id: p.query.id, flags: p.query.flags, rcode: RCode.servFail, query: p.query))
        }
    }

    /// An upstream's answer: only from the resolver asked, for the question asked.
    func received(_ bytes: [UInt8], from source: SocketAddress) {
        guard bytes.count >= 12 else { return }
        let id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        guard let p = pending[id], source == upstreams[p.attempt % upstreams.count],
              bytes.count >= 12 + p.query.question.count,
              zip(bytes[12..<(12 + p.query.question.count)], p.query.question).allSatisfy({ DNSQuery.lower($0) == DNSQuery.lower($1) })
        else { return }
        p.timer?.cancel()
        pending[id] = nil
        let truncated = bytes[2] & 0x02 != 0
        // Too big for UDP, and the client asked over TCP: ask the same resolver over TCP.
        if truncated, p.limit > 4096 {
            overTCP(p, to: source, truncated: bytes)
            return
        }
        if !truncated { keep(bytes, for: p.query) }
        p.reply(Self.fit(bytes, to: p.query, limit: p.limit))
    }

    /// Caches a whole answer or NXDOMAIN for its TTL (at most 5 minutes).
    private func keep(_ bytes: [UInt8], for q: DNSQuery) {
        let rcode = bytes[3] & 0x0f
        guard rcode == RCode.noError || rcode == RCode.nxDomain, let ttl = ResponseTTL.minimum(bytes) else { return }
        cache.put(ResponseCache.Key(q), bytes, expires: NIODeadline.now() + .seconds(Int64(min(ttl, 300))))
    }

    /// One length-prefixed exchange with `upstream` over TCP (2 s to answer); the truncated UDP
    /// answer goes back when it fails.
    private func overTCP(_ p: Pending, to upstream: SocketAddress, truncated: [UInt8]) {
        let answered = LoopFlag()
        let finish: @Sendable ([UInt8]?) -> Void = { [self] bytes in
            guard !answered.value else { return }
            answered.value = true
            if let bytes, bytes.count >= 12 {
                keep(bytes, for: p.query)
                p.reply(Self.fit(bytes, to: p.query, limit: p.limit))
            } else {
                p.reply(Self.fit(truncated, to: p.query, limit: p.limit))
            }
        }
        let packet = p.packet
        ClientBootstrap(group: loop)
            .connectTimeout(Self.timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([ByteToMessageHandler(DNSFrameDecoder()), UpstreamTCPHandler(finish)])
                }
            }
            .connect(to: upstream)
            .whenComplete { result in
                guard case .success(let channel) = result else { finish(nil); return }
                var out = channel.allocator.buffer(capacity: packet.count + 2)
                out.writeInteger(UInt16(packet.count))
                out.writeBytes(packet)
                channel.writeAndFlush(out, promise: nil)
                channel.eventLoop.scheduleTask(in: Self.timeout) { finish(nil); channel.close(promise: nil) }
            }
    }

    /// An upstream response under the client's ID and question spelling, truncated past its limit.
    static func fit(_ response: [UInt8], to q: DNSQuery, limit: Int) -> [UInt8] {
        if response.count > limit {
            return DNSWriter.truncated(q, rcode: response[3] & 0x0f, aa: false)
        }
        var out = response
        out[0] = UInt8(q.id >> 8); out[1] = UInt8(q.id & 0xff)
        out.replaceSubrange(12..<(12 + q.question.count), with: q.question)
        return out
    }
}

final class UpstreamHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let forwarder: Forwarder
    init(_ forwarder: Forwarder) { self.forwarder = forwarder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        forwarder.received(Array(envelope.data.readableBytesView), from: envelope.remoteAddress)
    }

    /// An ICMP error or a bad packet must not close the socket.
    func errorCaught(context: ChannelHandlerContext, error: Error) {}
}

/// The first answer of a TCP exchange, then the connection closes.
final class UpstreamTCPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let answered: @Sendable ([UInt8]?) -> Void
    init(_ answered: @escaping @Sendable ([UInt8]?) -> Void) { self.answered = answered }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        answered(Array(unwrapInboundIn(data).readableBytesView))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) { answered(nil) }
    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}

/// A flag touched only on the event loop.
final class LoopFlag: @unchecked Sendable { var value = false }

/// Upstream answers by question, dropped when their TTL runs out or, when full, oldest first.
struct ResponseCache {
    struct Key: Hashable {
        var name: [[UInt8]]
        var type: UInt16
        var klass: UInt16
        init(_ q: DNSQuery) { name = q.labels; type = q.qtype; klass = q.qclass }
    }
    let capacity: Int
    private var entries: [Key: (bytes: [UInt8], expires: NIODeadline)] = [:]
    private var order: [Key] = []
    init(capacity: Int) { self.capacity = capacity }

    mutating func get(_ key: Key, now: NIODeadline) -> [UInt8]? {
        guard let e = entries[key] else { return nil }
        if e.expires <= now { entries[key] = nil; return nil }
        return e.bytes
    }

    mutating func put(_ key: Key, _ bytes: [UInt8], expires: NIODeadline) {
        if entries[key] == nil {
            if entries.count >= capacity {
                // Amortized: drop the older half at once rather than one key per insert.
                for k in order.prefix(capacity / 2) { entries[k] = nil }
                order.removeFirst(min(order.count, capacity / 2))
            }
            order.append(key)
        }
        entries[key] = (bytes, expires)
        // Keys that expired out of `entries` stay in `order` until here.
        if order.count > 2 * capacity { order = order.filter { entries[$0] != nil } }
    }
}

/// The time an answer may be kept: the smallest TTL of its answer and authority records (for a
/// negative answer, the SOA's, bounded by its minimum field); nil when it has none.
enum ResponseTTL {
    static func minimum(_ bytes: [UInt8]) -> UInt32? {
        bytes.withUnsafeBytes { p -> UInt32? in
            guard p.count >= 12 else { return nil }
            var offset = 12
            for _ in 0..<Int(DNSQuery.be16(p, 4)) {
                guard DNSQuery.readName(p, &offset) != nil else { return nil }
                offset += 4
            }
            var smallest: UInt32?
            for _ in 0..<(Int(DNSQuery.be16(p, 6)) + Int(DNSQuery.be16(p, 8))) {
                guard DNSQuery.readName(p, &offset) != nil, offset + 10 <= p.count else { return nil }
                let type = DNSQuery.be16(p, offset)
                var ttl = UInt32(DNSQuery.be16(p, offset + 4)) << 16 | UInt32(DNSQuery.be16(p, offset + 6))
                let length = Int(DNSQuery.be16(p, offset + 8))
                offset += 10
                guard offset + length <= p.count else { return nil }
                if type == RRType.soa, length >= 22 {
                    let m = offset + length - 4
                    ttl = min(ttl, UInt32(DNSQuery.be16(p, m)) << 16 | UInt32(DNSQuery.be16(p, m + 2)))
                }
                smallest = min(smallest ?? ttl, ttl)
                offset += length
            }
            return smallest
        }
    }
}
