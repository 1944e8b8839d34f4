// ServiceAccount tokens (TokenRequest, `kubectl create token`): ES256 JWTs signed with the
// master's service-account key (<data-dir>/tls/sa.key, 0600) in kube-apiserver's claim shape —
// sub system:serviceaccount:<ns>:<name>, the kubernetes.io claim naming the account and its uid,
// aud, exp, and (for a TokenRequest with a boundObjectRef) the pod or secret it is bound to.
// Verified on every request (signature, expiry, audience); the caller also checks the account
// (and the bound object) still exists with that uid, so deleting it revokes its tokens.
import Crypto
import Foundation

public final class ServiceAccountTokens: @unchecked Sendable {
    let key: P256.Signing.PrivateKey
    public static let issuer = "https://kubernetes.default.svc.cluster.local"

    public init(directory: String) throws {
        let path = directory + "/sa.key"
        if let pem = try? String(contentsOfFile: path, encoding: .utf8) {
            do { key = try P256.Signing.PrivateKey(pemRepresentation: pem) } catch { throw SecurityError("cannot load \(path): \(error)") }
        } else {
            key = P256.Signing.PrivateKey()
            try ClusterCA.writeSecret(path, key.pemRepresentation)
        }
    }

    /// An object a token is bound to (kube-apiserver's kubernetes.io.pod / .secret claims).
    public struct BoundObject: Sendable, Equatable {
        public var name: String
        public var uid: String
        public init(name: String, uid: String) { self.name = name; self.uid = uid }

        var claim: [String: String] { ["name": name, "uid": uid] }
        init?(claim: Any?) {
            guard let c = claim as? [String: Any], let name = c["name"] as? String, let uid = c["uid"] as? String else { return nil }
            self.init(name: name, uid: uid)
        }
    }

    public struct Claims: Sendable, Equatable {
        public var namespace: String
        public var name: String
        public var uid: String
        public var audiences: [String]
        public var expires: Date
        /// The token dies with this pod (the agent's projected tokens) or secret.
        public var pod: BoundObject?
        public var secret: BoundObject?
        public var user: UserInfo {
            UserInfo(name: "system:serviceaccount:\(namespace):\(name)",
                     groups: ["system:serviceaccounts", "system:serviceaccounts:\(namespace)", "system:authenticated"])
        }
    }

    /// A token for the account, valid `seconds` from now.
    public func issue(namespace: String, name: String, uid: String, audiences: [String], seconds: Int, now: Date = Date(),
                      pod: BoundObject? = nil, secret: BoundObject? = nil) throws -> String {
        let header = ["alg": "ES256", "typ": "JWT", "kid": keyID]
        let iat = Int(now.timeIntervalSince1970)
        var k8s: [String: Any] = ["namespace": namespace, "serviceaccount": ["name": name, "uid": uid]]
        if let pod { k8s["pod"] = pod.claim }
        if let secret { k8s["secret"] = secret.claim }
        let payload: [String: Any] = [
            "iss": Self.issuer, "sub": "system:serviceaccount:\(namespace):\(name)", "aud": audiences,
            "iat": iat, "nbf": iat, "exp": iat + seconds, "kubernetes.io": k8s,
        ]
        let signingInput = Self.b64url(try JSONSerialization.data(withJSONObject: header, options: .sortedKeys))
            + "." + Self.b64url(try JSONSerialization.data(withJSONObject: payload, options: .sortedKeys))
        let signature = try key.signature(for: Data(signingInput.utf8))
        return signingInput + "." + Self.b64url(signature.rawRepresentation)
    }

    /// The claims of a token this master signed that is still valid for `audience` (nil: anything else).
    public func verify(_ token: String, audience: String = ServiceAccountTokens.issuer, now: Date = Date()) -> Claims? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let sig = Self.unb64url(parts[2]),
              let signature = try? P256.Signing.ECDSASignature(rawRepresentation: sig),
              key.publicKey.isValidSignature(signature, for: Data((parts[0] + "." + parts[1]).utf8)),
              let body = Self.unb64url(parts[1]),
              let payload = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              payload["iss"] as? String == Self.issuer,
              let exp = payload["exp"] as? Int, Double(exp) > now.timeIntervalSince1970,
              let k8s = payload["kubernetes.io"] as? [String: Any], let ns = k8s["namespace"] as? String,
              let sa = k8s["serviceaccount"] as? [String: Any], let name = sa["name"] as? String, let uid = sa["uid"] as? String
        else { return nil }
        let audiences = payload["aud"] as? [String] ?? []
        guard audiences.isEmpty || audiences.contains(audience) else { return nil }
        return Claims(namespace: ns, name: name, uid: uid, audiences: audiences, expires: Date(timeIntervalSince1970: Double(exp)),
                      pod: BoundObject(claim: k8s["pod"]), secret: BoundObject(claim: k8s["secret"]))
    }

    /// A short id of the signing key (the JWT kid).
    var keyID: String { SHA256.hash(data: key.publicKey.derRepresentation).prefix(8).map { String(format: "%02x", $0) }.joined() }

    static func b64url(_ d: Data) -> String {
        d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func unb64url<S: StringProtocol>(_ s: S) -> Data? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t)
    }
}
