// HTTP/1.1 over SwiftNIO: one task per connection reads requests in turn (keep-alive), hands
// each to the API, and writes the reply — whole, or as a chunked stream for watches. A stream
// ends when its producer finishes or the client goes away (the channel's close future).
import API
import NIOCore
import NIOHTTP1
import NIOSSL
import NIOPosix

public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    public var path: String
    /// Decoded query parameters; a repeated name keeps its first value.
    public var query: [String: String]
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Set when the body exceeded the size limit (the body is then empty).
    public var bodyTooLarge = false
    /// The client's IP address (audit log).
    public var remoteIP = ""
    /// The client certificate the TLS layer verified against the cluster CA (DER), if one was presented.
    public var clientCertificate: [UInt8]?

    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.method = method
        self.headers = headers
        self.body = body
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        self.path = HTTPRequest.percentDecode(String(parts[0]))
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = HTTPRequest.percentDecode(String(kv[0]), plusIsSpace: true)
                if query[name] == nil { query[name] = kv.count > 1 ? HTTPRequest.percentDecode(String(kv[1]), plusIsSpace: true) : "" }
            }
        }
        self.query = query
    }

    static func percentDecode(_ s: String, plusIsSpace: Bool = false) -> String {
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else { return s }
        var out: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "+"), plusIsSpace { out.append(0x20); continue }
            if b == UInt8(ascii: "%"), it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                it = it.dropFirst(2)
                continue
            }
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// What a handler answers: a whole body, or a stream of chunks (watch).
public enum HTTPReply: Sendable {
    case full(status: HTTPResponseStatus, contentType: String, body: [UInt8])
    case stream(status: HTTPResponseStatus, contentType: String, chunks: AsyncStream<[UInt8]>)
}

public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest) async -> HTTPReply
    /// Where an upgraded stream (pods/exec, attach) is tunnelled; nil: this handler has none.
    var tunnel: (@Sendable (TunnelRequest) async -> Result<NodeTarget, Status>)? { get }
}

extension HTTPHandler {
    public var tunnel: (@Sendable (TunnelRequest) async -> Result<NodeTarget, Status>)? { nil }
}

public final class HTTPServer: Sendable {
    public static let maxBodyBytes = 3 * 1024 * 1024

    let handler: any HTTPHandler
    let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>

    /// The bound port (useful with port 0).
    public let port: Int

    /// Binds `host:port`; call `run()` to serve. `tls`: HTTPS with this context (client
    /// certificates are verified if presented).
    public init(host: String, port: Int, handler: any HTTPHandler, tls: NIOSSLContext? = nil) async throws {
        self.handler = handler
        let tunnel = handler.tunnel
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    if let tls { try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    if let tunnel { try child.pipeline.syncOperations.addHandler(StreamTunnelHandler(resolve: tunnel)) }
                    try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: child)
                }
            }
        self.port = channel.channel.localAddress?.port ?? port
    }

    /// Serves until the task is cancelled.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await channel.executeThenClose { inbound in
                for try await connection in inbound {
                    group.addTask { [handler] in await Self.serve(connection, handler: handler) }
                }
            }
        }
    }

    static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, handler: any HTTPHandler) async {
        let closeFuture = connection.channel.closeFuture
        let remoteIP = connection.channel.remoteAddress?.ipAddress ?? ""
        var peer: [UInt8]?? = .none   // looked up once, after the handshake
        try? await connection.executeThenClose { inbound, outbound in
            var parts = inbound.makeAsyncIterator()
            while let part = try await parts.next() {
                guard case .head(let head) = part else { continue }
                var body: [UInt8] = []
                var tooLarge = false
                reading: while let next = try await parts.next() {
                    switch next {
                    case .body(let buffer):
                        if body.count + buffer.readableBytes > maxBodyBytes { tooLarge = true; body = [] }
                        if !tooLarge { body.append(contentsOf: buffer.readableBytesView) }
                    case .end: break reading
                    case .head: return
                    }
                }
                var request = HTTPRequest(method: head.method, uri: head.uri, headers: head.headers, body: body)
                request.bodyTooLarge = tooLarge
                request.remoteIP = remoteIP
                if peer == nil {
                    let cert = try? await connection.channel.nioSSL_peerCertificate().get()
                    peer = .some(cert.flatMap { try? $0.toDERBytes() })
                }
                request.clientCertificate = peer ?? nil
                let reply = await handler.handle(request)
                let keepAlive = head.isKeepAlive
                switch reply {
                case .full(let status, let contentType, let bytes):
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: contentType)
                    headers.add(name: "Content-Length", value: String(bytes.count))
                    if !keepAlive { headers.add(name: "Connection", value: "close") }
                    try await outbound.write(contentsOf: [
                        .head(HTTPResponseHead(version: head.version, status: status, headers: headers)),
                        .body(.byteBuffer(ByteBuffer(bytes: bytes))),
                        .end(nil),
                    ])
                case .stream(let status, let contentType, let chunks):
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: contentType)
                    headers.add(name: "Transfer-Encoding", value: "chunked")
                    try await outbound.write(.head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
                    // Stream until the producer ends or the client hangs up, whichever is first.
                    let pump = Task {
                        for await chunk in chunks {
                            do { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk)))) } catch { return false }
                        }
                        return !Task.isCancelled
                    }
                    closeFuture.whenComplete { _ in pump.cancel() }
                    let finished = await withTaskCancellationHandler { await pump.value } onCancel: { pump.cancel() }
                    if !finished { return }
                    try await outbound.write(.end(nil))
                }
                if !keepAlive { return }
            }
        }
    }
}
