// The node server's access decisions without an API server: the kubelet's attribute mapping,
// and the caching of token and access reviews (a fake reviewer and a test clock). Root tests
// check the same against a real secured cluster.
import Foundation
@testable import Node
import Auth
import Synchronization
import Testing

@Suite struct NodeAccessTests {
    @Test(arguments: [
        ("GET", "/metrics", "get", "metrics"), ("GET", "/metrics/cadvisor", "get", "metrics"), ("GET", "/metrics/probes", "get", "metrics"),
        ("GET", "/stats/summary", "get", "stats"), ("GET", "/stats", "get", "stats"), ("GET", "/logs/syslog", "get", "log"),
        ("GET", "/containerLogs/default/web/main", "get", "proxy"), ("POST", "/exec/default/web/main", "create", "proxy"),
        ("GET", "/exec/default/web/main", "get", "proxy"), ("GET", "/pods", "get", "proxy"), ("GET", "/healthz", "get", "proxy"),
        ("GET", "/metricsx", "get", "proxy"), ("GET", "/statsz", "get", "proxy"), ("HEAD", "/metrics", "get", "metrics"),
        ("PUT", "/pods", "update", "proxy"), ("PATCH", "/pods", "patch", "proxy"), ("DELETE", "/pods", "delete", "proxy"),
        ("OPTIONS", "/pods", "", "proxy"),
    ])
    func kubeletAttributes(method: String, path: String, verb: String, subresource: String) {
        #expect(NodeRequestAttributes(method: method, path: path) == NodeRequestAttributes(verb: verb, subresource: subresource))
    }

    @Test func bearerTokens() {
        #expect(NodeAccessControl.bearerToken("Bearer abc") == "abc")
        #expect(NodeAccessControl.bearerToken("bearer  abc ") == "abc")
        #expect(NodeAccessControl.bearerToken("Basic abc") == nil)
        #expect(NodeAccessControl.bearerToken("Bearer ") == nil)
        #expect(NodeAccessControl.bearerToken(nil) == nil)
    }

    /// The API server's answers: tokens it knows, and who may do what; counts the questions.
    final class FakeReviewer: AccessReviewer {
        struct State { var tokens: [String: UserInfo] = [:]; var allowed: Set<String> = []; var tokenReviews = 0; var accessReviews = 0; var down = false }
        let state = Mutex(State())

        func reviewToken(_ token: String) throws -> UserInfo? {
            try state.withLock { s in
                if s.down { throw Unreachable() }
                s.tokenReviews += 1
                return s.tokens[token]
            }
        }

        func reviewAccess(_ user: UserInfo, _ attributes: NodeRequestAttributes, node: String) throws -> Bool {
            try state.withLock { s in
                if s.down { throw Unreachable() }
                s.accessReviews += 1
                return s.allowed.contains("\(user.name) \(attributes.verb) nodes/\(attributes.subresource) \(node)")
            }
        }

        struct Unreachable: Error {}
    }

    final class Clock: Sendable {
        let time = Mutex(Date(timeIntervalSince1970: 1_000_000))
        func advance(_ seconds: Double) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
        var now: Date { time.withLock { $0 } }
    }

    func control(_ reviewer: FakeReviewer, _ clock: Clock, capacity: Int = 100) -> NodeAccessControl {
        NodeAccessControl(node: "n1", reviewer: reviewer, capacity: capacity, now: { clock.now })
    }

    @Test func tokensAndAccessAreAskedOnceAndCached() {
        let reviewer = FakeReviewer(), clock = Clock()
        reviewer.state.withLock { s in
            s.tokens["prom"] = UserInfo(name: "system:serviceaccount:monitoring:prometheus", groups: ["system:serviceaccounts"])
            s.allowed = ["system:serviceaccount:monitoring:prometheus get nodes/metrics n1"]
        }
        let access = control(reviewer, clock)
        func check(_ path: String, _ header: String? = "Bearer prom") -> NodeAccessControl.Outcome {
            access.check(method: "GET", path: path, authorization: header, certificate: nil)
        }
        #expect(access.cached(method: "GET", path: "/metrics/cadvisor", authorization: "Bearer prom", certificate: nil) == nil)
        #expect(check("/metrics/cadvisor") == .allowed(user: "system:serviceaccount:monitoring:prometheus"))
        #expect(access.cached(method: "GET", path: "/metrics", authorization: "Bearer prom", certificate: nil)
            == .allowed(user: "system:serviceaccount:monitoring:prometheus"), "the same token and attributes: answered from the caches")
        #expect(check("/stats/summary") == .forbidden("Forbidden (user=system:serviceaccount:monitoring:prometheus, verb=get, resource=nodes, subresource=stats)"))
        #expect(reviewer.state.withLock { ($0.tokenReviews, $0.accessReviews) } == (1, 2))
        // Denials are kept 30 s, grants 5 minutes, tokens 2 minutes.
        reviewer.state.withLock { $0.allowed.insert("system:serviceaccount:monitoring:prometheus get nodes/stats n1") }
        clock.advance(29)
        #expect(check("/stats/summary") != .allowed(user: "system:serviceaccount:monitoring:prometheus"))
        clock.advance(2)
        #expect(check("/stats/summary") == .allowed(user: "system:serviceaccount:monitoring:prometheus"))
        #expect(reviewer.state.withLock { ($0.tokenReviews, $0.accessReviews) } == (1, 3))
        clock.advance(90)   // 121 s after the token review
        reviewer.state.withLock { $0.tokens["prom"] = nil }
        #expect(check("/metrics") == .unauthorized, "the token expired from the cache and is no longer valid")
        #expect(reviewer.state.withLock { $0.tokenReviews } == 2)
    }

    @Test func badTokensNoCredentialsAndCertificates() {
        let reviewer = FakeReviewer(), clock = Clock()
        let access = control(reviewer, clock)
        #expect(access.check(method: "GET", path: "/metrics", authorization: nil, certificate: nil) == .unauthorized)
        #expect(access.check(method: "GET", path: "/metrics", authorization: "Basic x", certificate: nil) == .unauthorized)
        #expect(access.check(method: "GET", path: "/metrics", authorization: "Bearer forged", certificate: nil) == .unauthorized)
        // A rejected token is an answer too (cached like the kubelet's), not asked again at once.
        #expect(access.cached(method: "GET", path: "/metrics", authorization: "Bearer forged", certificate: nil) == .unauthorized)
        #expect(reviewer.state.withLock { $0.tokenReviews } == 1)
        // The API server's kubelet client (system:masters) needs no review; another certificate does.
        let apiserver = UserInfo(name: "kube-apiserver-kubelet-client", groups: ["system:masters", "system:authenticated"])
        #expect(access.check(method: "POST", path: "/exec/a/b/c", authorization: nil, certificate: apiserver) == .allowed(user: "kube-apiserver-kubelet-client"))
        let node = UserInfo(name: "system:node:n2", groups: ["system:nodes", "system:authenticated"])
        #expect(access.check(method: "GET", path: "/pods", authorization: nil, certificate: node)
            == .forbidden("Forbidden (user=system:node:n2, verb=get, resource=nodes, subresource=proxy)"))
        #expect(reviewer.state.withLock { ($0.tokenReviews, $0.accessReviews) } == (1, 1))
    }

    @Test func anUnreachableAPIServerIsNotAnAnswer() {
        let reviewer = FakeReviewer(), clock = Clock()
        reviewer.state.withLock { s in
            s.tokens["t"] = UserInfo(name: "jane", groups: [])
            s.allowed = ["jane get nodes/metrics n1"]
            s.down = true
        }
        let access = control(reviewer, clock)
        #expect(access.check(method: "GET", path: "/metrics", authorization: "Bearer t", certificate: nil) == .unauthorized)
        let jane = UserInfo(name: "jane", groups: [])
        #expect(access.check(method: "GET", path: "/metrics", authorization: nil, certificate: jane)
            == .failed("Authorization error (user=jane, verb=get, resource=nodes, subresource=metrics)"))
        reviewer.state.withLock { $0.down = false }
        #expect(access.check(method: "GET", path: "/metrics", authorization: "Bearer t", certificate: nil) == .allowed(user: "jane"))
    }

    @Test func cachesStayWithinCapacity() {
        let cache = ExpiringCache<String, Int>(capacity: 3)
        let now = Date()
        for i in 0..<3 { cache.put("k\(i)", i, ttl: 60, now: now) }
        cache.put("k3", 3, ttl: 60, now: now)
        #expect(cache.count == 3)
        #expect(cache.get("k0", now: now) == nil, "the oldest went")
        #expect(cache.get("k3", now: now) == 3)
        // Expired entries go before live ones: "short" (1 s) makes room for k4, k2 and k3 stay.
        cache.put("short", 9, ttl: 1, now: now)   // (k1, now the oldest, goes)
        cache.put("k4", 4, ttl: 60, now: now.addingTimeInterval(2))
        #expect(cache.get("k1", now: now) == nil)
        #expect(cache.get("k2", now: now) == 2 && cache.get("k3", now: now) == 3 && cache.get("k4", now: now) == 4)
        #expect(cache.get("short", now: now.addingTimeInterval(2)) == nil)
        #expect(cache.count == 3)
    }
}
