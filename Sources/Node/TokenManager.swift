// Service account tokens for projected volumes, as the kubelet's token manager keeps them: one
// TokenRequest per (pod, account, audience, lifetime), bound to the pod so the token dies with it,
// cached and asked for again once 80% of its life has passed (or after 24 h), so the volume's
// periodic refresh swaps a fresh token in before the old one expires.
import API
import Client
import Foundation

/// A projected `serviceAccountToken` source, read once.
struct TokenProjection: Equatable {
    var path: String
    var audience: String
    var expirationSeconds: Int64

    init(_ source: JSONValue) {
        path = source["path"]?.stringValue ?? "token"
        audience = source["audience"]?.stringValue ?? ""
        expirationSeconds = source["expirationSeconds"]?.intValue ?? 3600
    }
}

/// The pod a token is bound to.
struct TokenOwner: Hashable {
    var namespace: String
    var podName: String
    var podUID: String
    var serviceAccount: String

    init(pod: JSONValue) {
        namespace = pod["metadata"]?["namespace"]?.stringValue ?? "default"
        podName = pod["metadata"]?["name"]?.stringValue ?? ""
        podUID = pod["metadata"]?["uid"]?.stringValue ?? ""
        serviceAccount = pod["spec"]?["serviceAccountName"]?.stringValue ?? "default"
    }
}

final class TokenManager: @unchecked Sendable {
    // @unchecked: `cache` is only read or written under `lock`.
    struct Issued {
        var token: String
        var issued: Date
        var expires: Date
    }
    private struct Key: Hashable {
        var owner: TokenOwner
        var audience: String
        var seconds: Int64
    }
    private let lock = NSLock()
    private var cache: [Key: Issued] = [:]
    /// Asks the API for a token (injected so the refresh logic is tested without a master).
    private let request: (TokenOwner, TokenProjection) throws -> Issued

    init(request: @escaping (TokenOwner, TokenProjection) throws -> Issued) { self.request = request }

    /// TokenRequest through the API, bound to the pod.
    convenience init(client: @escaping () throws -> APIClient) {
        self.init { owner, projection in try Self.requestToken(client(), owner: owner, projection: projection) }
    }

    /// The token for the projection: the cached one while it is fresh, else a new one.
    func token(for owner: TokenOwner, _ projection: TokenProjection, now: Date = Date()) throws -> String {
        let key = Key(owner: owner, audience: projection.audience, seconds: projection.expirationSeconds)
        lock.lock()
        let cached = cache[key]
        lock.unlock()
        if let cached, !Self.needsRefresh(cached, now: now) { return cached.token }
        do {
            let fresh = try request(owner, projection)
            lock.lock()
            cache[key] = fresh
            lock.unlock()
            return fresh.token
        } catch {
            // The master may be away: a token that still works is better than none.
            if let cached, cached.expires > now { return cached.token }
            throw error
        }
    }

    /// Past 80% of its life, or older than a day (the kubelet's rule).
    static func needsRefresh(_ t: Issued, now: Date) -> Bool {
        let life = t.expires.timeIntervalSince(t.issued)
        return now >= t.issued.addingTimeInterval(life * 0.8) || now.timeIntervalSince(t.issued) > 86_400
    }

    /// Forgets the tokens of a pod that is gone.
    func forget(podUID: String) {
        lock.lock()
        cache = cache.filter { $0.key.owner.podUID != podUID }
        lock.unlock()
    }

    static func requestToken(_ client: APIClient, owner: TokenOwner, projection: TokenProjection) throws -> Issued {
        let body: JSONValue = [
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": ["audiences": .array(projection.audience.isEmpty ? [] : [.string(projection.audience)]),
                     "expirationSeconds": .int(projection.expirationSeconds),
                     "boundObjectRef": ["apiVersion": "v1", "kind": "Pod", "name": .string(owner.podName), "uid": .string(owner.podUID)]],
        ]
        let path = "/api/v1/namespaces/\(owner.namespace)/serviceaccounts/\(owner.serviceAccount)/token"
        let r = try client.request("POST", path, body: body.serialized())
        guard r.code == 201 || r.code == 200 else {
            throw PodConfigError("failed to fetch token for service account \(owner.namespace)/\(owner.serviceAccount): \(r.errorMessage)")
        }
        let status = try r.json()["status"] ?? .null
        guard let token = status["token"]?.stringValue else {
            throw PodConfigError("failed to fetch token for service account \(owner.namespace)/\(owner.serviceAccount): no token in the answer")
        }
        let now = Date()
        let expires = status["expirationTimestamp"]?.stringValue.flatMap(Timestamps.parse)
            ?? now.addingTimeInterval(Double(projection.expirationSeconds))
        return Issued(token: token, issued: now, expires: expires)
    }
}
