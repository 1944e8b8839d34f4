// Where and how to reach a registry: k3s's registries.yaml (mirrors → endpoints, configs → auth
// and TLS per host) and a docker-style auth file (config.json "auths").
import API
import Foundation
import YAML

public struct RegistryConfig: Sendable {
    public struct HostConfig: Sendable {
        public var username: String?
        public var password: String?
        var tls = TLSOptions()
    }

    /// Registry host → mirror endpoints ("http://127.0.0.1:5000"), tried in order before the registry itself.
    public var mirrors: [String: [String]] = [:]
    /// Registry or endpoint host → credentials and TLS settings.
    public var configs: [String: HostConfig] = [:]
    /// Hosts reached over plain HTTP (--insecure).
    public var plainHTTP: Set<String> = []

    public init() {}

    /// Reads registries.yaml (k3s format).
    public init(registriesFile path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw RegistryError("cannot read registry config \(path)")
        }
        let doc: JSONValue
        do { doc = try YAMLDocuments.parse(text).first ?? .null } catch { throw RegistryError("\(path): \(error)") }
        for (host, m) in doc["mirrors"]?.objectValue ?? JSONObject() {
            guard let endpoints = m["endpoint"]?.arrayValue?.compactMap(\.stringValue) else {
                throw RegistryError("\(path): mirrors.\(host).endpoint must be a list of URLs")
            }
            for e in endpoints where !(e.hasPrefix("http://") || e.hasPrefix("https://")) {
                throw RegistryError("\(path): mirrors.\(host).endpoint: \"\(e)\" must start with http:// or https://")
            }
            mirrors[host] = endpoints
        }
        for (host, c) in doc["configs"]?.objectValue ?? JSONObject() {
            var hc = HostConfig()
            hc.username = c["auth"]?["username"]?.stringValue
            hc.password = c["auth"]?["password"]?.stringValue
            if let auth = c["auth"]?["auth"]?.stringValue, let (u, p) = Self.decodeBasic(auth) { hc.username = u; hc.password = p }
            hc.tls.insecure = c["tls"]?["insecure_skip_verify"]?.boolValue ?? false
            hc.tls.caFile = c["tls"]?["ca_file"]?.stringValue
            hc.tls.certFile = c["tls"]?["cert_file"]?.stringValue
            hc.tls.keyFile = c["tls"]?["key_file"]?.stringValue
            configs[host] = hc
        }
    }

    /// Adds credentials from a docker config.json ("auths": {"host": {"auth": base64(user:pass)}}).
    public mutating func addAuthFile(_ path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw RegistryError("cannot read auth file \(path)") }
        let doc: JSONValue
        do { doc = try JSONValue.parse(Array(data)) } catch { throw RegistryError("\(path): \(error)") }
        for (key, entry) in doc["auths"]?.objectValue ?? JSONObject() {
            let host = key.replacingOccurrences(of: "https://", with: "").replacingOccurrences(of: "http://", with: "")
                .split(separator: "/").first.map(String.init) ?? key
            var hc = configs[host] ?? HostConfig()
            if let auth = entry["auth"]?.stringValue, let (u, p) = Self.decodeBasic(auth) { hc.username = u; hc.password = p }
            if let u = entry["username"]?.stringValue { hc.username = u }
            if let p = entry["password"]?.stringValue { hc.password = p }
            configs[host] = hc
        }
    }

    static func decodeBasic(_ b64: String) -> (String, String)? {
        guard let data = Data(base64Encoded: b64), let text = String(data: data, encoding: .utf8),
              let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// The endpoints to try for a registry host: its mirrors, then the registry itself.
    func endpoints(for registry: String) -> [String] {
        var out = mirrors[registry] ?? mirrors["*"] ?? []
        let upstream = registry == "docker.io" ? "registry-1.docker.io" : registry
        out.append((plainHTTP.contains(registry) ? "http://" : "https://") + upstream)
        return out
    }

    func hostConfig(for endpoint: String, registry: String) -> HostConfig {
        let host = URL(string: endpoint)?.host.map { h in URL(string: endpoint)?.port.map { "\(h):\($0)" } ?? h } ?? endpoint
        return configs[host] ?? configs[registry] ?? HostConfig()
    }
}
