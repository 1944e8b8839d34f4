// Who is calling: a client certificate signed by the cluster CA (CN = user, O = groups; the TLS
// layer has verified it), or a bearer token — from the static token file (kube-apiserver's
// --token-auth-file CSV: token,user,uid,"group1,group2") or the master's own loopback token.
import Foundation
import X509

public final class TokenAuthenticator: @unchecked Sendable {
    private var tokens: [String: UserInfo] = [:]

    public init() {}

    /// Loads a kube-apiserver token file; errors name the file and line.
    public convenience init(file path: String) throws {
        self.init()
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw SecurityError("cannot read the token file \(path)") }
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = Self.csv(line)
            guard fields.count >= 3, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw SecurityError("\(path):\(i + 1): expected token,user,uid[,\"group1,group2\"]")
            }
            let groups = fields.count > 3 ? fields[3].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } : []
            add(token: fields[0], user: UserInfo(name: fields[1], groups: groups))
        }
    }

    public func add(token: String, user: UserInfo) {
        var u = user
        if !u.groups.contains("system:authenticated") { u.groups.append("system:authenticated") }
        tokens[token] = u
    }

    public func user(for token: String) -> UserInfo? { tokens[token] }

    /// One CSV line (quotes group commas, as the token file format does).
    static func csv(_ line: String) -> [String] {
        var fields: [String] = [], current = "", quoted = false
        for ch in line {
            if ch == "\"" { quoted.toggle() } else if ch == "," && !quoted { fields.append(current); current = "" } else { current.append(ch) }
        }
        fields.append(current)
        return fields.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// A random token (hex, 32 bytes of entropy).
    public static func randomToken() -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }
}

public enum CertificateIdentity {
    /// The user a verified client certificate (DER) names, with system:authenticated added.
    public static func user(der: [UInt8]) -> UserInfo? {
        guard let cert = try? Certificate(derEncoded: der) else { return nil }
        let id = ClusterCA.identity(cert)
        guard !id.user.isEmpty else { return nil }
        return UserInfo(name: id.user, groups: id.groups + ["system:authenticated"])
    }
}
