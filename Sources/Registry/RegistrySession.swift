// One repository on one endpoint, with the registry auth flow: a 401 carries a
// WWW-Authenticate challenge — Basic (send credentials) or Bearer (get a token from the realm,
// with credentials if we have them, anonymously if not) — and the request is retried with it.
import Foundation

final class RegistrySession: @unchecked Sendable {
    let endpoint: String
    let repository: String
    let host: RegistryConfig.HostConfig
    private let lock = NSLock()
    private var authorization: String?

    init(endpoint: String, repository: String, host: RegistryConfig.HostConfig) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.repository = repository
        self.host = host
    }

    /// GET <endpoint>/v2/<repository><suffix>, authenticating on a 401 challenge.
    func get(_ suffix: String, accept: String, limit: Int? = nil,
             onBytes: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> FetchResponse {
        let url = endpoint + "/v2/" + repository + suffix
        var r: FetchResponse
        do {
            r = try HTTPFetch.get(url, headers: headers(accept), tls: host.tls, limit: limit, onBytes: onBytes)
        } catch let e as RegistryError where e.description.hasPrefix("GET ") {
            throw Puller.EndpointUnusable(reason: e.description)   // transport: try the next endpoint
        }
        if r.status == 401, let challenge = r.headers["www-authenticate"] {
            try authenticate(challenge)
            r = try HTTPFetch.get(url, headers: headers(accept), tls: host.tls, limit: limit, onBytes: onBytes)
        }
        if r.status == 401 || r.status == 403 {
            throw RegistryError("\(endpoint): access to \(repository) denied (\(RegistrySession.describe(r)))"
                                + (host.username == nil ? "; no credentials configured for it" : ""))
        }
        return r
    }

    private func headers(_ accept: String) -> [String] {
        var h = ["Accept: \(accept)"]
        if let a = lock.withLock({ authorization }) { h.append("Authorization: \(a)") }
        return h
    }

    private func authenticate(_ challenge: String) throws {
        let (scheme, params) = RegistrySession.parseChallenge(challenge)
        switch scheme.lowercased() {
        case "basic":
            guard let u = host.username, let p = host.password else {
                throw RegistryError("\(endpoint) requires credentials for \(repository) (Basic auth) and none are configured")
            }
            lock.withLock { authorization = "Basic " + Data("\(u):\(p)".utf8).base64EncodedString() }
        case "bearer":
            guard let realm = params["realm"] else { throw RegistryError("\(endpoint): Bearer challenge without a realm") }
            var query: [String] = []
            if let service = params["service"] { query.append("service=" + RegistrySession.escape(service)) }
            query.append("scope=" + RegistrySession.escape(params["scope"] ?? "repository:\(repository):pull"))
            let url = realm + (realm.contains("?") ? "&" : "?") + query.joined(separator: "&")
            var headers: [String] = []
            if let u = host.username, let p = host.password {
                headers.append("Authorization: Basic " + Data("\(u):\(p)".utf8).base64EncodedString())
            }
            let r = try HTTPFetch.get(url, headers: headers, tls: host.tls, limit: 1 << 20)
            guard r.status == 200 else { throw RegistryError("token from \(realm): \(RegistrySession.describe(r))") }
            struct Token: Decodable { var token: String?; var access_token: String? }
            guard let t = try? JSONDecoder().decode(Token.self, from: Data(r.body)), let token = t.token ?? t.access_token else {
                throw RegistryError("token from \(realm): no token in the response")
            }
            lock.withLock { authorization = "Bearer " + token }
        default:
            throw RegistryError("\(endpoint): unsupported auth scheme \(scheme)")
        }
    }

    /// `Bearer realm="https://auth",service="registry",scope="repository:x:pull"`.
    static func parseChallenge(_ text: String) -> (String, [String: String]) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else { return (trimmed, [:]) }
        let scheme = String(trimmed[..<space])
        var params: [String: String] = [:]
        var rest = Substring(trimmed[trimmed.index(after: space)...])
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let eq = rest.firstIndex(of: "=") else { break }
            let key = rest[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                let end = rest.firstIndex(of: "\"") ?? rest.endIndex
                value = String(rest[..<end])
                rest = end < rest.endIndex ? rest[rest.index(after: end)...] : ""
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = String(rest[..<end])
                rest = rest[end...]
            }
            params[key] = value
        }
        return (scheme, params)
    }

    static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }

    /// "HTTP 404: MANIFEST_UNKNOWN: manifest unknown" from a registry error body.
    static func describe(_ r: FetchResponse) -> String {
        struct Errors: Decodable { struct E: Decodable { var code: String?; var message: String? }; var errors: [E]? }
        if let e = try? JSONDecoder().decode(Errors.self, from: Data(r.body)), let first = e.errors?.first {
            return "HTTP \(r.status): \(first.code ?? "")\(first.message.map { ": " + $0 } ?? "")"
        }
        return "HTTP \(r.status)"
    }
}
