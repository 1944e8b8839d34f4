// The HTTP/1.1 upgrade to SPDY/3.1 (client-go's spdy round tripper: `Connection: Upgrade`,
// `Upgrade: SPDY/3.1`, the stream protocols it speaks in X-Stream-Protocol-Version). Refusing
// (`decide` answers nil) leaves the request to the plain HTTP handler, which answers why.
import NIOCore
import NIOHTTP1

struct SPDYUpgradeRefused: Error {}

final class SPDYUpgrader: HTTPServerProtocolUpgrader, Sendable {
    let supportedProtocol = "SPDY/3.1"
    let requiredUpgradeHeaders: [String] = []
    /// The extra response headers (the chosen protocol), or nil to refuse.
    let decide: @Sendable (Channel, HTTPRequestHead) -> EventLoopFuture<HTTPHeaders?>
    /// The handler that takes over the upgraded connection.
    let handler: @Sendable (HTTPRequestHead) -> any ChannelHandler & Sendable

    init(decide: @escaping @Sendable (Channel, HTTPRequestHead) -> EventLoopFuture<HTTPHeaders?>,
         handler: @escaping @Sendable (HTTPRequestHead) -> any ChannelHandler & Sendable) {
        self.decide = decide
        self.handler = handler
    }

    func buildUpgradeResponse(channel: Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        decide(channel, upgradeRequest).flatMapThrowing { extra in
            guard let extra else { throw SPDYUpgradeRefused() }
            var headers = initialResponseHeaders
            headers.add(contentsOf: extra)
            return headers
        }
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        context.pipeline.addHandler(handler(upgradeRequest))
    }
}
