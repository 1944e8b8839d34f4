// Which server and namespace to talk to: --server, else the kubeconfig's current context
// ($KUBECONFIG, else ~/.kube/config), else http://127.0.0.1:6443 (what `skiff master` serves).
// The context's user credentials (client certificate, token) and cluster CA are registered for
// that server, so every APIClient made for it uses them.
import API
import Foundation
import HTTPTransfer
import YAML

public struct ClusterTarget: Sendable {
    public var server: String
    public var namespace: String
    /// The kubeconfig user's credentials and cluster CA (nil without a kubeconfig).
    public var credentials: ClientCredentials?

    public static let defaultServer = "http://127.0.0.1:6443"

    public static func resolve(server: String?, kubeconfig: String?, namespace: String?) throws -> ClusterTarget {
        var target = ClusterTarget(server: defaultServer, namespace: "default")
        let env = ProcessInfo.processInfo.environment
        let path = kubeconfig ?? env["KUBECONFIG"]?.split(separator: ":").first.map(String.init)
            ?? (env["HOME"].map { $0 + "/.kube/config" })
        if let path, FileManager.default.fileExists(atPath: path) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ClientError("cannot read kubeconfig \(path)") }
            let config: JSONValue
            do {
                config = try YAMLDocuments.parse(text).first ?? .null
            } catch {
                throw ClientError("error parsing kubeconfig \(path): \(error)")
            }
            let current = config["current-context"]?.stringValue ?? ""
            let context = config["contexts"]?.arrayValue?.first { $0["name"]?.stringValue == current }?["context"]
            if let clusterName = context?["cluster"]?.stringValue,
               let cluster = config["clusters"]?.arrayValue?.first(where: { $0["name"]?.stringValue == clusterName })?["cluster"],
               let s = cluster["server"]?.stringValue {
                target.server = s
            }
            if let ns = context?["namespace"]?.stringValue, !ns.isEmpty { target.namespace = ns }
            let user = config["users"]?.arrayValue?.first { $0["name"]?.stringValue == context?["user"]?.stringValue }?["user"]
            let cluster = config["clusters"]?.arrayValue?.first { $0["name"]?.stringValue == context?["cluster"]?.stringValue }?["cluster"]
            let base = (path as NSString).deletingLastPathComponent
            func file(_ v: JSONValue?) -> String? {
                guard let f = v?.stringValue, !f.isEmpty else { return nil }
                return f.hasPrefix("/") ? f : base + "/" + f
            }
            func data(_ v: JSONValue?) throws -> [UInt8]? {
                guard let s = v?.stringValue, !s.isEmpty else { return nil }
                guard let d = Data(base64Encoded: s) else { throw ClientError("kubeconfig \(path): a *-data field is not base64") }
                return Array(d)
            }
            var tls = TLSOptions(insecure: cluster?["insecure-skip-tls-verify"]?.boolValue ?? false,
                                 caFile: file(cluster?["certificate-authority"]), certFile: file(user?["client-certificate"]),
                                 keyFile: file(user?["client-key"]))
            tls.caPEM = try data(cluster?["certificate-authority-data"])
            tls.certPEM = try data(user?["client-certificate-data"])
            tls.keyPEM = try data(user?["client-key-data"])
            var token = user?["token"]?.stringValue
            if token == nil, let tf = file(user?["tokenFile"]) {
                token = (try? String(contentsOfFile: tf, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            target.credentials = ClientCredentials(tls: tls, token: token)
        } else if kubeconfig != nil {
            throw ClientError("kubeconfig \(kubeconfig!) does not exist")
        }
        if let server { target.server = server }
        if let namespace { target.namespace = namespace }
        if let credentials = target.credentials { ClientCredentials.register(server: target.server, credentials) }
        return target
    }
}
