// pods/log, pods/exec and pods/attach reach the pod's node server (the kubelet's port, from the
// Node's InternalIP and daemonEndpoints). Logs are an HTTP GET streamed back chunk by chunk;
// exec and attach are upgraded connections (websocket, or SPDY if the node spoke it), so they
// are tunnelled byte for byte by StreamTunnelHandler.
import API
import Foundation
import NIOCore
import NIOSSL
import Auth
import NIOHTTP1
import NIOPosix

/// A node server address and the path to ask it for (over TLS when `tls` is set).
public struct NodeTarget: Sendable {
    public var host: String
    public var port: Int
    public var path: String
    public var tls: NIOSSLContext? = nil
}

/// How the API server reaches node servers in secure mode: TLS trusting the cluster CA, with its
/// kubelet-client certificate (CN kube-apiserver-kubelet-client, group system:masters).
public struct NodeClientTLS: Sendable {
    public let context: NIOSSLContext
    public init(certificate: String, key: String, ca: String) throws {
        var config = TLSConfiguration.makeClientConfiguration()
        config.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
        config.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        // Node serving certificates name the node and its IP; the chain to the cluster CA is what counts here.
        config.certificateVerification = .noHostnameVerification
        context = try NIOSSLContext(configuration: config)
    }
}

extension KubernetesAPI {
    /// Where the pod's node server is, and its container (the named one, else the only one; with
    /// `anyContainer`, the first: port-forward reaches the pod's network, not a container).
    func nodeTarget(namespace: String, pod name: String, container: String?, anyContainer: Bool = false) async throws -> (host: String, port: Int, container: String) {
        guard let podType = ResourceRegistry.lookup(groupVersion: "v1", plural: "pods"),
              let nodeType = ResourceRegistry.lookup(groupVersion: "v1", plural: "nodes") else {
            throw APIError.internalError("pods and nodes are not registered")
        }
        let pod = try await storage.get(podType, namespace: namespace, name: name).object
        let containers = (pod["spec"]?["containers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let inits = (pod["spec"]?["initContainers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
            + (pod["spec"]?["ephemeralContainers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let chosen: String
        if let container, !container.isEmpty {
            guard containers.contains(container) || inits.contains(container) else {
                throw APIError.badRequest("container \(container) is not valid for pod \(name)")
            }
            chosen = container
        } else if containers.count == 1 || (anyContainer && !containers.isEmpty) {
            chosen = containers[0]
        } else {
            throw APIError.badRequest("a container name must be specified for pod \(name), choose one of: [\(containers.joined(separator: " "))]")
        }
        guard let nodeName = pod["spec"]?["nodeName"]?.stringValue, !nodeName.isEmpty else {
            throw APIError.badRequest("pod \(name) does not have a host assigned")
        }
        let node: Node
        do { node = Node(json: try await storage.get(nodeType, namespace: nil, name: nodeName).object) } catch {
            throw APIError(Status(code: 503, reason: "ServiceUnavailable", message: "node \(nodeName) of pod \(name) is not registered"))
        }
        guard let endpoint = node.serverEndpoint else {
            throw APIError(Status(code: 503, reason: "ServiceUnavailable", message: "node \(nodeName) does not report a node server address"))
        }
        return (endpoint.host, endpoint.port, chosen)
    }

    /// GET pods/log: the node's /containerLogs, streamed.
    func proxyLog(_ request: HTTPRequest, namespace: String, pod: String) async throws -> HTTPReply {
        let target = try await nodeTarget(namespace: namespace, pod: pod, container: request.query["container"])
        var query: [String] = []
        for key in ["follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes"] {
            if let v = request.query[key] { query.append(key + "=" + Self.queryEscape(v)) }
        }
        let path = "/containerLogs/\(namespace)/\(pod)/\(target.container)" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let response: NodeResponse
        do { response = try await NodeResponse.get(host: target.host, port: target.port, path: path, tls: nodeTLS?.context) } catch {
            throw APIError(Status(code: 502, reason: "BadGateway", message: "reaching the node server at \(target.host):\(target.port): \(error)"))
        }
        guard response.status == 200 else {
            var text: [UInt8] = []
            for await chunk in response.body { text += chunk }
            let message = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw APIError(Status(code: response.status == 404 ? 400 : response.status, reason: "BadRequest", message: message))
        }
        return .stream(status: .ok, contentType: "text/plain", chunks: response.body)
    }

    static func queryEscape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~:"))) ?? s
    }

    /// exec/attach/portforward upgrade of pods: the node server's path for it, once the caller
    /// may (an upgrade never reaches `handle`, so it is checked here).
    public func tunnelTarget(_ request: TunnelRequest) async -> Result<NodeTarget, Status> {
        let method = request.method, uri = request.uri
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0]).split(separator: "/").map(String.init)
        let rawQuery = parts.count > 1 ? String(parts[1]) : ""
        // api v1 namespaces NS pods NAME SUB
        guard path.count == 7, path[0] == "api", path[1] == "v1", path[2] == "namespaces", path[4] == "pods" else {
            return .failure(Status(code: 404, reason: "NotFound", message: "the server could not find the requested resource"))
        }
        if let access {
            do {
                let user = try await access.authenticate(authorization: request.authorization, clientCertificate: request.clientCertificate)
                var a = RequestAttributes(user: user, verb: method == "POST" ? "create" : "get", isResourceRequest: true)
                a.resource = "pods"; a.subresource = path[6]; a.namespace = path[3]; a.name = path[5]
                try await access.authorize(a)
            } catch let e as APIError {
                return .failure(e.status)
            } catch {
                return .failure(Status(code: 500, reason: "InternalError", message: "\(error)"))
            }
        }
        let container = HTTPRequest(method: .GET, uri: uri).query["container"]
        do {
            let t = try await nodeTarget(namespace: path[3], pod: path[5], container: container, anyContainer: path[6] == "portforward")
            let sub = path[6] == "portforward" ? "portForward" : path[6]
            return .success(NodeTarget(host: t.host, port: t.port, path: "/\(sub)/\(path[3])/\(path[5])/\(t.container)" + (rawQuery.isEmpty ? "" : "?" + rawQuery),
                                       tls: nodeTLS?.context))
        } catch let e as APIError {
            return .failure(e.status)
        } catch {
            return .failure(Status(code: 500, reason: "InternalError", message: "\(error)"))
        }
    }
}

/// One GET to a node server: its status and its body as a stream (ends with the response;
/// the connection closes when the consumer stops).
struct NodeResponse {
    var status: Int
    var body: AsyncStream<[UInt8]>

    static func get(host: String, port: Int, path: String, tls: NIOSSLContext? = nil) async throws -> NodeResponse {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { ch in
                ch.eventLoop.makeCompletedFuture {
                    if let tls { try ch.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: nil)) }
                    try ch.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: ch)
                }
            }
        let (body, sink) = AsyncStream<[UInt8]>.makeStream()
        let head = HeadSignal()
        let task = Task {
            do {
                try await channel.executeThenClose { inbound, outbound in
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(host):\(port)")
                    headers.add(name: "Connection", value: "close")
                    try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)))
                    try await outbound.write(.end(nil))
                    for try await part in inbound {
                        switch part {
                        case .head(let h): head.resolve(.success(Int(h.status.code)))
                        case .body(let b): sink.yield(Array(b.readableBytesView))
                        case .end: sink.finish(); return
                        }
                    }
                }
            } catch {
                head.resolve(.failure(error))
            }
            head.resolve(.failure(CancellationError()))
            sink.finish()
        }
        sink.onTermination = { _ in task.cancel(); channel.channel.close(promise: nil) }
        // A node that accepts but never answers must not hold the caller past its cancellation (a scrape's timeout).
        let status = try await withTaskCancellationHandler {
            try await head.value()
        } onCancel: {
            head.resolve(.failure(CancellationError()))
            channel.channel.close(promise: nil)
        }
        return NodeResponse(status: status, body: body)
    }
}

/// An upgrade request as the tunnel sees it: enough to authenticate and route it.
public struct TunnelRequest: Sendable {
    public var method: String
    public var uri: String
    /// The Authorization header's value, if any.
    public var authorization: String?
    /// The verified client certificate (DER), if any.
    public var clientCertificate: [UInt8]?
}

/// A one-shot result the first resolve() settles.
final class HeadSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<Int, Error>?
    private var waiter: CheckedContinuation<Int, Error>?

    func resolve(_ r: Result<Int, Error>) {
        lock.lock()
        guard result == nil else { lock.unlock(); return }
        result = r
        let w = waiter
        waiter = nil
        lock.unlock()
        w?.resume(with: r)
    }

    func value() async throws -> Int {
        try await withCheckedThrowingContinuation { c in
            lock.lock()
            if let result { lock.unlock(); c.resume(with: result); return }
            waiter = c
            lock.unlock()
        }
    }
}

/// First on every API connection: if its first request is an upgrade of pods/exec, attach or
/// portforward, the connection becomes a byte tunnel to the node server (the request line
/// rewritten to the node's path); anything else passes through untouched and this handler
/// leaves the pipeline. Clients open a fresh connection for such upgrades.
final class StreamTunnelHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let resolve: @Sendable (TunnelRequest) async -> Result<NodeTarget, Status>
    private var buffer: ByteBuffer?
    private var tunnelling = false
    private var peer: Channel?
    private var pending: [ByteBuffer] = []

    init(resolve: @escaping @Sendable (TunnelRequest) async -> Result<NodeTarget, Status>) { self.resolve = resolve }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if tunnelling {
            if let peer { peer.writeAndFlush(incoming, promise: nil) } else { pending.append(incoming) }
            return
        }
        if buffer == nil { buffer = incoming } else { buffer!.writeBuffer(&incoming) }
        let bytes = Array(buffer!.readableBytesView)
        guard let lineEnd = bytes.firstIndex(of: 0x0a) else {
            if bytes.count > 8192 { passThrough(context) }
            return
        }
        let requestLine = String(decoding: bytes[..<lineEnd], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let fields = requestLine.split(separator: " ")
        guard fields.count == 3, Self.isStreamPath(String(fields[1])) else { return passThrough(context) }
        guard let headEnd = Self.find([13, 10, 13, 10], in: bytes) else {
            if bytes.count > 65536 { passThrough(context) }
            return
        }
        let headText = String(decoding: bytes[..<headEnd], as: UTF8.self)
        guard headText.lowercased().contains("\nupgrade:") else { return passThrough(context) }
        tunnelling = true
        let rest = Array(bytes[(headEnd + 4)...])
        if !rest.isEmpty { pending.append(ByteBuffer(bytes: rest)) }
        buffer = nil
        let method = String(fields[0]), uri = String(fields[1])
        let allLines = headText.split(separator: "\r\n", omittingEmptySubsequences: false).dropFirst()
        let headerLines = allLines.filter { !$0.lowercased().hasPrefix("host:") && !$0.lowercased().hasPrefix("authorization:") }
        // Who is asking: the caller's credentials go to the API's checks, never to the node.
        let authorization = allLines.first { $0.lowercased().hasPrefix("authorization:") }
            .map { String($0.dropFirst("authorization:".count)).trimmingCharacters(in: .whitespaces) }
        let certificate = (try? context.pipeline.syncOperations.nioSSL_peerCertificate())?.flatMap { try? $0.toDERBytes() }
        let tunnelRequest = TunnelRequest(method: method, uri: uri, authorization: authorization, clientCertificate: certificate)
        let client = context.channel
        let resolve = self.resolve
        // Bytes for the client are written from this handler's context: the HTTP encoder after
        // it in the pipeline must never see them. The node connection shares the event loop.
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let deliver: @Sendable (ByteBuffer) -> Void = { bound.value.writeAndFlush(NIOAny($0), promise: nil) }
        client.eventLoop.makeFutureWithTask { await resolve(tunnelRequest) }.whenSuccess { [self] result in
            switch result {
            case .failure(let status):
                Self.reject(bound.value, status)
            case .success(let target):
                let head = "\(method) \(target.path) HTTP/1.1\r\nHost: \(target.host):\(target.port)\r\n" + headerLines.joined(separator: "\r\n") + "\r\n\r\n"
                ClientBootstrap(group: client.eventLoop)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connectTimeout(.seconds(5))
                    .channelInitializer { ch in
                        ch.eventLoop.makeCompletedFuture {
                            if let tls = target.tls { try ch.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: nil)) }
                            try ch.pipeline.syncOperations.addHandler(RelayHandler(deliver: deliver, close: { client.close(promise: nil) }))
                        }
                    }
                    .connect(host: target.host, port: target.port)
                    .whenComplete { [self] connected in
                        switch connected {
                        case .failure(let error):
                            Self.reject(bound.value, Status(code: 502, reason: "BadGateway", message: "reaching the node server at \(target.host):\(target.port): \(error)"))
                        case .success(let node):
                            node.write(ByteBuffer(string: head), promise: nil)
                            for b in pending { node.write(b, promise: nil) }
                            pending = []
                            node.flush()
                            peer = node
                            client.closeFuture.whenComplete { _ in node.close(promise: nil) }
                        }
                    }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer?.close(promise: nil)
        context.fireChannelInactive()
    }

    private func passThrough(_ context: ChannelHandlerContext) {
        if let buffer { context.fireChannelRead(wrapInboundOut(buffer)) }
        buffer = nil
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }

    static func isStreamPath(_ uri: String) -> Bool {
        let path = uri.split(separator: "?", maxSplits: 1).first ?? ""
        let p = path.split(separator: "/")
        return p.count == 7 && p[0] == "api" && p[4] == "pods" && ["exec", "attach", "portforward"].contains(p[6])
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }

    /// An HTTP error answer written raw (the HTTP handlers after us never saw this request).
    static func reject(_ context: ChannelHandlerContext, _ status: Status) {
        let body = JSONReply.statusBody(status)
        let text = "HTTP/1.1 \(status.code) \(HTTPResponseStatus(statusCode: status.code).reasonPhrase)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        var buffer = ByteBuffer(string: text)
        buffer.writeBytes(body)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

/// Node → client bytes of a tunnel; either side closing closes the other.
final class RelayHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let deliver: @Sendable (ByteBuffer) -> Void
    let close: @Sendable () -> Void
    init(deliver: @escaping @Sendable (ByteBuffer) -> Void, close: @escaping @Sendable () -> Void) { self.deliver = deliver; self.close = close }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { deliver(unwrapInboundIn(data)) }

    func channelInactive(context: ChannelHandlerContext) { close() }
}
