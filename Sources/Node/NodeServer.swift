// The node server (the kubelet's :10250): container logs; exec, attach and port-forward over
// websocket (v4/v5.channel.k8s.io, SPDY/3.1+portforward.k8s.io) or a SPDY/3.1 upgrade (Streaming/);
// /stats/summary and /metrics/cadvisor from cgroups, /metrics, /healthz, /pods. The API server
// proxies pods/log, exec, attach and portforward here. With TLS, every request's caller
// is authenticated and authorized first (NodeAccess: certificates or tokens, asked of the API server). Classic NIO handlers: the agent
// is thread-based, so blocking work (following a log, exec I/O) runs on its own threads and
// writes back through the channel, which is thread-safe.
import API
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Auth
import NIOWebSocket
import Runtime
import Telemetry

/// A request's path and its query (repeated names kept: exec's `command` repeats).
struct NodeRequest {
    let method: HTTPMethod
    let path: String
    let query: [(String, String)]

    init(_ head: HTTPRequestHead) {
        method = head.method
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        var q: [(String, String)] = []
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                func decode(_ s: Substring) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
                q.append((decode(kv[0]), kv.count > 1 ? decode(kv[1]) : ""))
            }
        }
        query = q
    }

    func first(_ name: String) -> String? { query.first { $0.0 == name }?.1 }
    func all(_ name: String) -> [String] { query.filter { $0.0 == name }.map(\.1) }
    func flag(_ name: String) -> Bool { ["1", "true", "True"].contains(first(name) ?? "") }

    /// ["exec", ns, pod, container] for /exec/ns/pod/container (container optional).
    var segments: [String] { path.split(separator: "/").map(String.init) }
}

public final class NodeServer: @unchecked Sendable {
    let agent: NodeAgent
    let stats: NodeStats
    /// A TLS node server's callers: client certificates of the cluster CA, or bearer tokens, checked with the API server.
    let access: NodeAccessControl?
    private var channel: Channel?

    init(agent: NodeAgent) {
        self.agent = agent
        stats = NodeStats(agent: agent)
        access = agent.options.serverTLS.map { _ in
            NodeAccessControl(node: agent.options.name, reviewer: MasterAccessReviewer { try agent.client() })
        }
    }

    /// Binds and serves in the background; returns the bound port.
    func start(host: String, port: Int) throws -> Int {
        let tls = try agent.options.serverTLS.map { t -> NIOSSLContext in
            var config = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(t.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: t.key, format: .pem)))
            // A client certificate is asked for and verified when sent, not required: scrapers bring bearer tokens.
            config.certificateVerification = .optionalVerification
            config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(t.ca))
            config.minimumTLSVersion = .tlsv12
            return try NIOSSLContext(configuration: config)
        }
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                if let tls {
                    do { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    catch { return channel.eventLoop.makeFailedFuture(error) }
                }
                let http = NodeHTTPHandler(server: self)
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: 1 << 20,
                    shouldUpgrade: { [self] channel, head in
                        // A caller who may not is not upgraded: the plain handler then answers 401 or 403.
                        let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                        authorize(head, channel: channel) { allowed in promise.succeed(allowed ? self.websocketHeaders(head) : nil) }
                        return promise.futureResult
                    },
                    upgradePipelineHandler: { [self] channel, head in
                        channel.pipeline.addHandlers(self.websocketHandlers(head))
                    })
                let spdy = SPDYUpgrader(
                    decide: { [self] channel, head in
                        let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                        authorize(head, channel: channel) { allowed in promise.succeed(allowed ? self.spdyHeaders(head) : nil) }
                        return promise.futureResult
                    },
                    handler: { [self] head in self.spdyHandler(head) })
                return channel.pipeline.configureHTTPServerPipeline(
                    withServerUpgrade: (upgraders: [upgrader, spdy], completionHandler: { context in
                        context.pipeline.removeHandler(http, promise: nil)
                    })
                ).flatMap { channel.pipeline.addHandler(http) }
            }
        let channel = try bootstrap.bind(host: host, port: port).wait()
        self.channel = channel
        return channel.localAddress?.port ?? port
    }

    // MARK: access

    /// Decides whether the request's caller may (on the event loop when the answer is cached, else
    /// on another thread: the API server is asked), then calls `done`. Without TLS everyone may.
    func authorize(_ head: HTTPRequestHead, channel: Channel, respond: Bool = false, done: @escaping @Sendable (Bool) -> Void) {
        guard let access else { return done(true) }
        let certificate = (try? channel.pipeline.syncOperations.nioSSL_peerCertificate())?
            .flatMap { try? $0.toDERBytes() }.flatMap(CertificateIdentity.user(der:))
        let method = head.method.rawValue, path = NodeRequest(head).path, authorization = head.headers.first(name: "Authorization")
        let finish: @Sendable (NodeAccessControl.Outcome) -> Void = { outcome in
            if case .allowed = outcome { return done(true) }
            if respond { Self.refuse(outcome, channel: channel, keepAlive: head.isKeepAlive) }
            done(false)
        }
        if let outcome = access.cached(method: method, path: path, authorization: authorization, certificate: certificate) { return finish(outcome) }
        DispatchQueue.global().async {
            finish(access.check(method: method, path: path, authorization: authorization, certificate: certificate))
        }
    }

    /// The kubelet's answers: 401 Unauthorized, 403 Forbidden (user=..., verb=..., resource=..., subresource=...), 500.
    static func refuse(_ outcome: NodeAccessControl.Outcome, channel: Channel, keepAlive: Bool) {
        let (status, text): (HTTPResponseStatus, String)
        switch outcome {
        case .allowed: return
        case .unauthorized: (status, text) = (.unauthorized, "Unauthorized")
        case .forbidden(let message): (status, text) = (.forbidden, message)
        case .failed(let message): (status, text) = (.internalServerError, message)
        }
        NodeHTTPHandler.send(channel, status: status, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8), keepAlive: keepAlive)
    }

    // MARK: routing

    /// A whole reply, or nil when the handler streams (logs -f) or the path is unknown.
    func handle(_ request: NodeRequest, channel: Channel, head: HTTPRequestHead) {
        let s = request.segments
        func reply(_ status: HTTPResponseStatus, _ contentType: String, _ body: [UInt8]) {
            NodeHTTPHandler.send(channel, status: status, contentType: contentType, body: body, keepAlive: head.isKeepAlive)
        }
        if Self.streamKinds.contains(s.first ?? "") {
            // Only an upgrade we accepted streams; anything else gets the kubelet's reason.
            let refusal = streamRefusal(request) ?? (.badRequest, "Upgrade request required")
            return reply(refusal.0, "text/plain", Array((refusal.1 + "\n").utf8))
        }
        guard request.method == .GET else { return reply(.methodNotAllowed, "text/plain", Array("method not allowed\n".utf8)) }
        switch s.first ?? "" {
        case "healthz": reply(.ok, "text/plain", Array("ok".utf8))
        case "pods":
            let list: JSONValue = ["kind": "PodList", "apiVersion": "v1", "metadata": .object(JSONObject()), "items": .array(agent.pods.all)]
            reply(.ok, "application/json", list.serialized())
        case "containerLogs" where s.count >= 4:
            NodeLogs(agent: agent).serve(namespace: s[1], pod: s[2], container: s[3], request: request, channel: channel, head: head)
        case "stats" where s.count == 2 && s[1] == "summary":
            reply(.ok, "application/json", stats.summary().serialized())
        case "metrics" where s.count == 1:
            reply(.ok, MetricsRegistry.contentType, agent.metrics.registry.render())
        case "metrics" where s.count == 2 && s[1] == "cadvisor":
            reply(.ok, MetricsRegistry.contentType, stats.cadvisorMetrics())
        default:
            reply(.notFound, "text/plain", Array("404 page not found\n".utf8))
        }
    }

    // MARK: streams (exec, attach, port-forward) over websocket or SPDY

    static let streamKinds: Set<String> = ["exec", "attach", "portForward"]
    static let websocketProtocols = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
    /// kubectl ≥ 1.31 tunnels port-forward's SPDY session through a websocket of this protocol.
    static let portForwardTunnel = "SPDY/3.1+" + SPDYPortForward.protocolName

    /// Why an exec/attach/portForward request can't be streamed (the kubelet's answers), or nil.
    func streamRefusal(_ request: NodeRequest) -> (HTTPResponseStatus, String)? {
        let s = request.segments
        guard s.count >= 3 else { return (.notFound, "404 page not found") }
        if s[0] == "portForward" {
            return agent.podSandbox(namespace: s[1], pod: s[2]) == nil ? (.notFound, "pod not found (\"\(s[1])/\(s[2])\")") : nil
        }
        guard agent.findContainer(namespace: s[1], pod: s[2], container: s.count > 3 ? s[3] : nil, previous: false)?.running == true else {
            return (.notFound, "container not found (\"\(s.count > 3 ? s[3] : "")\")")
        }
        return nil
    }

    /// Upgrade only exec/attach of a running container (or port-forward to a running pod), with a
    /// protocol we speak — the first of ours the client offers in `header`; else the request goes
    /// on as plain HTTP (and gets its error there).
    func negotiate(_ head: HTTPRequestHead, header: String, portForward: [String], commands: [String]) -> HTTPHeaders? {
        let request = NodeRequest(head)
        guard let kind = request.segments.first, Self.streamKinds.contains(kind), streamRefusal(request) == nil else { return nil }
        let offered = head.headers[canonicalForm: header].map { $0.trimmingCharacters(in: .whitespaces) }
        let speaks = kind == "portForward" ? portForward : commands
        guard let chosen = speaks.first(where: { offered.contains($0) }) else { return nil }
        return HTTPHeaders([(header, chosen)])
    }

    func websocketHeaders(_ head: HTTPRequestHead) -> HTTPHeaders? {
        negotiate(head, header: "Sec-WebSocket-Protocol", portForward: [Self.portForwardTunnel], commands: Self.websocketProtocols)
    }

    /// client-go's SPDY handshake: the stream protocol chosen from its X-Stream-Protocol-Version list.
    func spdyHeaders(_ head: HTTPRequestHead) -> HTTPHeaders? {
        negotiate(head, header: "X-Stream-Protocol-Version", portForward: [SPDYPortForward.protocolName], commands: SPDYRemoteCommand.protocols)
    }

    func websocketHandlers(_ head: HTTPRequestHead) -> [any ChannelHandler & Sendable] {
        let request = NodeRequest(head)
        let s = request.segments
        if s[0] == "portForward" {
            let forward = SPDYPortForward(agent: agent, namespace: s[1], pod: s[2])
            return [WebSocketBytesHandler(), SPDYConnectionHandler { forward.serve($0, transport: "websocket") }]
        }
        let v5 = head.headers[canonicalForm: "Sec-WebSocket-Protocol"].contains { $0.contains("v5.channel.k8s.io") }
        return [ExecStreamHandler(agent: agent, request: ContainerStreamRequest(request), v5: v5)]
    }

    func spdyHandler(_ head: HTTPRequestHead) -> any ChannelHandler & Sendable {
        let request = NodeRequest(head)
        let s = request.segments
        let version = spdyHeaders(head)?.first(name: "X-Stream-Protocol-Version") ?? ""
        if s[0] == "portForward" {
            let forward = SPDYPortForward(agent: agent, namespace: s[1], pod: s[2])
            return SPDYConnectionHandler { forward.serve($0, transport: "SPDY") }
        }
        return SPDYConnectionHandler(start: SPDYRemoteCommand(agent: agent, request: ContainerStreamRequest(request), version: version).serve)
    }
}

/// Plain HTTP requests: collect the head, route at the end.
final class NodeHTTPHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {   // one channel's event loop
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let server: NodeServer
    private var head: HTTPRequestHead?

    init(server: NodeServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let server = self.server, channel = context.channel
            server.authorize(head, channel: channel, respond: true) { allowed in
                if allowed { server.handle(NodeRequest(head), channel: channel, head: head) }
            }
        }
    }

    static func send(_ channel: Channel, status: HTTPResponseStatus, contentType: String, body: [UInt8], keepAlive: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        let done = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        if !keepAlive { done.whenComplete { _ in channel.close(promise: nil) } }
    }
}

extension NodeAgent {
    /// A pod's container on this node: the newest attempt (or the one before, for `previous`).
    /// nil container: the pod's first container.
    func findContainer(namespace: String, pod: String, container: String?, previous: Bool) -> (record: ContainerRecord, running: Bool)? {
        var name = container
        if name == nil {
            let p = pods.all.first { $0["metadata"]?["namespace"]?.stringValue == namespace && $0["metadata"]?["name"]?.stringValue == pod }
            name = p?["spec"]?["containers"]?.arrayValue?.first?["name"]?.stringValue
        }
        guard let name else { return nil }
        let attempts = runtime.list().compactMap { r, s -> (ContainerName, ContainerRecord, ContainerRunState)? in
            guard let n = ContainerName(parsing: r.name), n.namespace == namespace, n.pod == pod, n.container == name else { return nil }
            return (n, r, s)
        }.sorted { $0.0.attempt < $1.0.attempt }
        guard let pick = previous ? (attempts.count > 1 ? attempts[attempts.count - 2] : nil) : attempts.last else { return nil }
        if case .running = pick.2 { return (pick.1, true) }
        return (pick.1, false)
    }
}
