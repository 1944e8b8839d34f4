// `skiff node --token`: joining a secured master. The CA is fetched over unverified TLS and
// accepted only if it matches the token's hash; the token's secret then buys this node its
// client certificate (system:node:<name>) and node server certificate, kept under
// <root-dir>/pki and reused while valid.
import Client
import Foundation
import HTTPTransfer
import Auth

struct NodeJoinClient {
    let server: String
    let token: String
    let rootDir: String
    let nodeName: String
    let addresses: [String]

    struct Credentials {
        var ca: String, clientCert: String, clientKey: String, servingCert: String, servingKey: String
    }

    func join() throws -> Credentials {
        guard let parsed = NodeJoin.parse(token) else {
            throw SecurityError("--token must be the master's node token (K10<hash>::node:<secret>, in its <data-dir>/node-token)")
        }
        let pki = rootDir + "/pki"
        let files = Credentials(ca: pki + "/ca.crt", clientCert: pki + "/node-client.crt", clientKey: pki + "/node-client.key",
                                servingCert: pki + "/node-serving.crt", servingKey: pki + "/node-serving.key")
        if let kept = try? reuse(files, caHash: parsed.caHash) { return kept }
        // 1. The CA, checked against the token.
        let caResponse = try Transfer.perform("GET", server + NodeJoin.caPath, tls: TLSOptions(insecure: true), limit: 1 << 16, connectTimeout: 10, timeout: 30)
        let caPEM = String(decoding: caResponse.body, as: UTF8.self)
        guard caResponse.status == 200, NodeJoin.caHash(caPEM) == parsed.caHash else {
            throw SecurityError("the server at \(server) does not have the CA the token names (HTTP \(caResponse.status)): refusing to join")
        }
        // 2. Our credentials, over TLS verified with that CA.
        let body: [String: Any] = ["nodeName": nodeName, "addresses": addresses]
        let r = try Transfer.perform("POST", server + NodeJoin.credentialsPath,
                                     headers: ["Content-Type: application/json", "Authorization: Bearer \(parsed.secret)", "Expect:"],
                                     body: Array(try JSONSerialization.data(withJSONObject: body)), tls: TLSOptions(caPEM: Array(caPEM.utf8)),
                                     limit: 1 << 20, connectTimeout: 10, timeout: 30)
        guard r.status == 200, let issued = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: String] else {
            throw SecurityError("joining \(server) failed (HTTP \(r.status)): \(String(decoding: r.body.prefix(300), as: UTF8.self))")
        }
        try FileManager.default.createDirectory(atPath: pki, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for (path, key, mode) in [(files.ca, "ca", 0o644), (files.clientCert, "clientCertificate", 0o644), (files.clientKey, "clientKey", 0o600),
                                  (files.servingCert, "servingCertificate", 0o644), (files.servingKey, "servingKey", 0o600)] {
            guard let text = issued[key] else { throw SecurityError("joining \(server): the answer has no \(key)") }
            let tmp = path + ".tmp"
            guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8), attributes: [.posixPermissions: mode]),
                  rename(tmp, path) == 0 else { throw SecurityError("cannot write \(path)") }
        }
        return files
    }

    /// Credentials from an earlier join: same CA, for this node, more than 30 days left.
    func reuse(_ files: Credentials, caHash: String) throws -> Credentials? {
        let ca = try String(contentsOfFile: files.ca, encoding: .utf8)
        guard NodeJoin.caHash(ca) == caHash, FileManager.default.fileExists(atPath: files.clientKey),
              FileManager.default.fileExists(atPath: files.servingKey) else { return nil }
        let client = try String(contentsOfFile: files.clientCert, encoding: .utf8)
        guard try ClusterCA.identity(pem: client).user == "system:node:\(nodeName)",
              try ClusterCA.expiry(pem: client).timeIntervalSinceNow > ClusterCA.renewBefore,
              try ClusterCA.expiry(pem: String(contentsOfFile: files.servingCert, encoding: .utf8)).timeIntervalSinceNow > ClusterCA.renewBefore
        else { return nil }
        return files
    }
}
