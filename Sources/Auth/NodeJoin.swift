// Joining nodes, as k3s does: the master keeps a join token "K10<sha256 of the CA>::node:<secret>"
// in <data-dir>/node-token (0600). A node given it fetches /cacerts over unverified TLS, checks the
// CA against the hash (so it trusts the right cluster), then trades the secret for its own
// credentials: a client certificate system:node:<name> (group system:nodes) and a serving
// certificate for its node server, both signed by the cluster CA.
import Crypto
import Foundation

public enum NodeJoin {
    public static let credentialsPath = "/skiff/v1/node-credentials"
    public static let caPath = "/cacerts"
    public static let bootstrapGroup = "system:bootstrappers"

    /// The hash a join token pins: sha256 of the CA certificate's PEM text, hex.
    public static func caHash(_ pem: String) -> String {
        SHA256.hash(data: Data(pem.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The master's token file (made once; the secret stays across restarts).
    public static func ensureToken(dataDir: String, ca: ClusterCA) throws -> (token: String, secret: String) {
        let path = dataDir + "/node-token"
        if let text = try? String(contentsOfFile: path, encoding: .utf8), let parsed = parse(text.trimmingCharacters(in: .whitespacesAndNewlines)),
           parsed.caHash == caHash(ca.certificatePEM) {
            return (text.trimmingCharacters(in: .whitespacesAndNewlines), parsed.secret)
        }
        let secret = TokenAuthenticator.randomToken()
        let token = "K10\(caHash(ca.certificatePEM))::node:\(secret)"
        try ClusterCA.writeSecret(path, token)
        return (token, secret)
    }

    public static func parse(_ token: String) -> (caHash: String, secret: String)? {
        guard token.hasPrefix("K10"), let sep = token.range(of: "::node:") else { return nil }
        let hash = String(token[token.index(token.startIndex, offsetBy: 3)..<sep.lowerBound])
        let secret = String(token[sep.upperBound...])
        guard hash.count == 64, !secret.isEmpty else { return nil }
        return (hash, secret)
    }

    /// What the master answers a joining node.
    public static func credentials(ca: ClusterCA, nodeName: String, addresses: [String]) throws -> [String: String] {
        guard !nodeName.isEmpty, !nodeName.contains("/"), nodeName.count <= 253 else { throw SecurityError("invalid node name \"\(nodeName)\"") }
        let ips = addresses.filter { ClusterCA.ipv4Bytes($0) != nil }
        let client = try ca.issue(commonName: "system:node:\(nodeName)", organizations: ["system:nodes"])
        let serving = try ca.issue(commonName: "system:node:\(nodeName)", organizations: ["system:nodes"],
                                   dnsNames: [nodeName, "localhost"], ipAddresses: Array(Set(ips + ["127.0.0.1"])).sorted())
        return ["ca": ca.certificatePEM, "clientCertificate": client.certificatePEM, "clientKey": client.keyPEM,
                "servingCertificate": serving.certificatePEM, "servingKey": serving.keyPEM]
    }
}
