// Who may use a secured node server, decided as the kubelet's webhook authentication and
// authorization decide it: a verified client certificate names its user (the API server's own,
// in system:masters, needs no further question), a bearer token is asked about with a
// TokenReview; then a SubjectAccessReview asks whether that user may <verb> nodes/<subresource>
// of this node (stats for /stats, metrics for /metrics, log for /logs, proxy for the rest). The
// answers are cached as the kubelet caches them: tokens 2 minutes, allowed 5 minutes, denied 30 s.
import API
import Client
import Foundation
import Auth
import Synchronization

/// The kubelet's authorizer attributes of a request to its API (server/auth.go).
struct NodeRequestAttributes: Hashable, Sendable {
    /// get for GET and HEAD, create for POST, update, patch, delete ("" for other methods: never allowed).
    var verb: String
    /// stats, metrics, log or proxy.
    var subresource: String

    init(verb: String, subresource: String) { self.verb = verb; self.subresource = subresource }

    init(method: String, path: String) {
        switch method {
        case "GET", "HEAD": verb = "get"
        case "POST": verb = "create"
        case "PUT": verb = "update"
        case "PATCH": verb = "patch"
        case "DELETE": verb = "delete"
        default: verb = ""
        }
        if Self.isSubpath(path, of: "/stats") { subresource = "stats" }
        else if Self.isSubpath(path, of: "/metrics") { subresource = "metrics" }
        else if Self.isSubpath(path, of: "/logs") { subresource = "log" }
        else { subresource = "proxy" }
    }

    /// `/metrics` and `/metrics/cadvisor` are under `/metrics`; `/metricsx` is not.
    static func isSubpath(_ path: String, of base: String) -> Bool {
        path == base || path.hasPrefix(base + "/")
    }
}

/// The API server's answers (a fake in unit tests). Throws when it could not answer.
protocol AccessReviewer: Sendable {
    /// The token's user, or nil when the API server says it is not valid.
    func reviewToken(_ token: String) throws -> UserInfo?
    /// Whether `user` may do `attributes` on Node `node`.
    func reviewAccess(_ user: UserInfo, _ attributes: NodeRequestAttributes, node: String) throws -> Bool
}

final class NodeAccessControl: Sendable {
    enum Outcome: Equatable, Sendable {
        case allowed(user: String)
        /// 401: no credentials, or a token the API server did not accept (or could not check).
        case unauthorized
        /// 403 with the kubelet's message.
        case forbidden(String)
        /// 500: the API server could not say whether the user may.
        case failed(String)
    }

    static let tokenTTL: Double = 120
    static let allowedTTL: Double = 300
    static let deniedTTL: Double = 30

    let node: String
    let reviewer: any AccessReviewer
    let now: @Sendable () -> Date
    private let tokens: ExpiringCache<String, UserInfo?>
    private struct AccessKey: Hashable { var user: String; var groups: [String]; var attributes: NodeRequestAttributes }
    private let decisions: ExpiringCache<AccessKey, Bool>

    init(node: String, reviewer: any AccessReviewer, capacity: Int = 4096, now: @escaping @Sendable () -> Date = Date.init) {
        self.node = node
        self.reviewer = reviewer
        self.now = now
        tokens = ExpiringCache(capacity: capacity)
        decisions = ExpiringCache(capacity: capacity)
    }

    /// The bearer token of an Authorization header (the scheme is case-insensitive).
    static func bearerToken(_ header: String?) -> String? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    /// The answer when every question is cached (nil: the API server must be asked: call check off the event loop).
    func cached(method: String, path: String, authorization: String?, certificate: UserInfo?) -> Outcome? {
        decide(method: method, path: path, authorization: authorization, certificate: certificate, askingAllowed: false)
    }

    /// The answer, asking the API server what the caches don't know (blocks).
    func check(method: String, path: String, authorization: String?, certificate: UserInfo?) -> Outcome {
        decide(method: method, path: path, authorization: authorization, certificate: certificate, askingAllowed: true) ?? .unauthorized
    }

    private func decide(method: String, path: String, authorization: String?, certificate: UserInfo?, askingAllowed: Bool) -> Outcome? {
        let user: UserInfo
        if let certificate {
            user = certificate
        } else {
            guard let token = Self.bearerToken(authorization) else { return .unauthorized }
            if let known = tokens.get(token, now: now()) {
                guard let known else { return .unauthorized }
                user = known
            } else {
                guard askingAllowed else { return nil }
                let reviewed: UserInfo?
                // (A failed review is not an answer: nothing is cached, the caller gets 401.)
                do { reviewed = try reviewer.reviewToken(token) } catch { return .unauthorized }
                tokens.put(token, reviewed, ttl: Self.tokenTTL, now: now())
                guard let reviewed else { return .unauthorized }
                user = reviewed
            }
        }
        // The API server's own kubelet client may do anything (its group's RBAC answer).
        if user.groups.contains("system:masters") { return .allowed(user: user.name) }
        let attributes = NodeRequestAttributes(method: method, path: path)
        let key = AccessKey(user: user.name, groups: user.groups, attributes: attributes)
        let allowed: Bool
        if let known = decisions.get(key, now: now()) {
            allowed = known
        } else {
            guard askingAllowed else { return nil }
            do { allowed = try reviewer.reviewAccess(user, attributes, node: node) } catch {
                return .failed("Authorization error (user=\(user.name), verb=\(attributes.verb), resource=nodes, subresource=\(attributes.subresource))")
            }
            decisions.put(key, allowed, ttl: allowed ? Self.allowedTTL : Self.deniedTTL, now: now())
        }
        if allowed { return .allowed(user: user.name) }
        return .forbidden("Forbidden (user=\(user.name), verb=\(attributes.verb), resource=nodes, subresource=\(attributes.subresource))")
    }
}

/// Answers kept until they expire; past `capacity` entries the expired go first, then the oldest.
final class ExpiringCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry { var value: Value; var expires: Date; var stored: UInt64 }
    private struct State { var entries: [Key: Entry] = [:]; var counter: UInt64 = 0 }
    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func get(_ key: Key, now: Date) -> Value? {
        // (The closure's type is spelled out: for an optional Value, a stored nil is an answer, not a miss.)
        state.withLock { (s: inout State) -> Value? in
            guard let e = s.entries[key] else { return nil }
            if e.expires <= now { s.entries[key] = nil; return nil }
            return e.value
        }
    }

    func put(_ key: Key, _ value: Value, ttl: Double, now: Date) {
        state.withLock { s in
            if s.entries[key] == nil && s.entries.count >= capacity {
                for (k, e) in s.entries where e.expires <= now { s.entries[k] = nil }
                if s.entries.count >= capacity, let oldest = s.entries.min(by: { $0.value.stored < $1.value.stored })?.key {
                    s.entries[oldest] = nil
                }
            }
            s.counter += 1
            s.entries[key] = Entry(value: value, expires: now.addingTimeInterval(ttl), stored: s.counter)
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
}

/// The reviews sent to the API server with the agent's own credentials (its Node authorizer lets a node create them).
struct MasterAccessReviewer: AccessReviewer {
    let client: @Sendable () throws -> APIClient

    func reviewToken(_ token: String) throws -> UserInfo? {
        var review = TokenReview.new()
        review.spec.token = token
        let answer = TokenReview(json: try send(review.json, to: TokenReview.resource))
        guard answer.status.authenticated == true, let name = answer.status.user.username else { return nil }
        return UserInfo(name: name, groups: answer.status.user.groups ?? [])
    }

    func reviewAccess(_ user: UserInfo, _ attributes: NodeRequestAttributes, node: String) throws -> Bool {
        var review = SubjectAccessReview.new()
        review.spec.user = user.name
        review.spec.groups = user.groups
        review.spec.resourceAttributes.verb = attributes.verb
        review.spec.resourceAttributes.group = ""
        review.spec.resourceAttributes.version = "v1"
        review.spec.resourceAttributes.resource = "nodes"
        review.spec.resourceAttributes.subresource = attributes.subresource
        review.spec.resourceAttributes.name = node
        return SubjectAccessReview(json: try send(review.json, to: SubjectAccessReview.resource)).status.allowed == true
    }

    private func send(_ body: JSONValue, to type: ResourceType) throws -> JSONValue {
        let r = try client().request("POST", ResourceResolver.path(type, namespace: nil), body: body.serialized())
        guard r.code == 201 || r.code == 200 else { throw ClientError("\(type.kind): \(r.errorMessage)") }
        return try r.json()
    }
}
