// Which server and namespace to talk to: --server, else the kubeconfig's current context
// ($KUBECONFIG, else ~/.kube/config), else http://127.0.0.1:6443 (what `skiff master` serves).
import API
import Foundation
import YAML

public struct ClusterTarget: Sendable {
    public var server: String
    public var namespace: String

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
        } else if kubeconfig != nil {
            throw ClientError("kubeconfig \(kubeconfig!) does not exist")
        }
        if let server { target.server = server }
        if let namespace { target.namespace = namespace }
        return target
    }
}
