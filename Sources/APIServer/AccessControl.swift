// Authentication and authorization in front of every request when the master serves TLS:
// who is calling (verified client certificate, bearer token, else anonymous), then whether they
// may (the Node authorizer for kubelets, then RBAC over the stored roles and bindings; members
// of system:masters may do anything). Unknown credentials are 401; a refusal is 403 in
// Kubernetes' wording.
import API
import Foundation
import Auth
import Synchronization

final class AccessControl: Sendable {
    let tokens: TokenAuthenticator
    let serviceAccounts: ServiceAccountTokens?
    let storage: ResourceStorage
    private let rbac = Mutex<(authorizer: RBACAuthorizer, loaded: Date)?>(nil)
    let nodes = NodeAuthorizer()

    init(tokens: TokenAuthenticator, serviceAccounts: ServiceAccountTokens?, storage: ResourceStorage) {
        self.tokens = tokens
        self.serviceAccounts = serviceAccounts
        self.storage = storage
    }

    /// The caller, or a 401 for credentials that don't check out.
    func authenticate(authorization: String?, clientCertificate: [UInt8]?) async throws -> UserInfo {
        if let der = clientCertificate, let user = CertificateIdentity.user(der: der) { return user }
        guard let auth = authorization else { return .anonymous }
        let unauthorized = APIError(Status(code: 401, reason: "Unauthorized", message: "Unauthorized"))
        // The scheme is case-insensitive (RFC 7235): the official Python client sends "bearer".
        guard auth.count > 7, auth.prefix(7).lowercased() == "bearer " else { throw unauthorized }
        let token = String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        if let user = await user(forToken: token) { return user }
        throw unauthorized
    }

    /// Who a bearer token belongs to (nil: nobody), for requests and TokenReviews.
    func user(forToken token: String, audience: String = ServiceAccountTokens.issuer) async -> UserInfo? {
        if let user = tokens.user(for: token) { return user }
        // A service account token: signed by us, unexpired, and its account (and the pod or secret it
        // is bound to) still there with the same uid.
        if let claims = serviceAccounts?.verify(token, audience: audience),
           await exists("serviceaccounts", claims.namespace, ServiceAccountTokens.BoundObject(name: claims.name, uid: claims.uid)),
           await exists("pods", claims.namespace, claims.pod), await exists("secrets", claims.namespace, claims.secret) {
            return claims.user
        }
        return nil
    }

    /// Whether the bound object is stored with that uid (true when there is none to check).
    private func exists(_ plural: String, _ namespace: String, _ bound: ServiceAccountTokens.BoundObject?) async -> Bool {
        guard let bound else { return true }
        let type = ResourceRegistry.lookup(groupVersion: "v1", plural: plural)!
        guard let object = try? await storage.get(type, namespace: namespace, name: bound.name) else { return false }
        return object.object.value(at: "metadata.uid")?.stringValue == bound.uid
    }

    /// The request's attributes (resource or path) for the authorizers.
    static func attributes(_ request: HTTPRequest, user: UserInfo, route: ResourceRequest?, verb: String) -> RequestAttributes {
        guard let rr = route else {
            var a = RequestAttributes(user: user, verb: request.method.rawValue.lowercased(), isResourceRequest: false)
            a.path = request.path
            return a
        }
        let verbs = ["GET": "get", "LIST": "list", "WATCH": "watch", "POST": "create", "PUT": "update", "PATCH": "patch",
                     "DELETE": "delete", "DELETECOLLECTION": "deletecollection"]
        var a = RequestAttributes(user: user, verb: verbs[verb] ?? verb.lowercased(), isResourceRequest: true)
        a.apiGroup = rr.type.group
        a.resource = rr.type.plural
        a.subresource = rr.subresource ?? ""
        a.namespace = rr.namespace ?? ""
        a.name = rr.name ?? ""
        // A list or watch of one object by metadata.name is about that object (as kube-apiserver's RequestInfo has it).
        if a.name.isEmpty, a.verb == "list" || a.verb == "watch", let selector = request.query["fieldSelector"] {
            a.name = Self.exactName(fieldSelector: selector) ?? ""
        }
        return a
    }

    /// X from a field selector requiring metadata.name=X (or ==X).
    static func exactName(fieldSelector: String) -> String? {
        for requirement in fieldSelector.split(separator: ",") {
            for op in ["==", "="] where requirement.hasPrefix("metadata.name" + op) {
                return String(requirement.dropFirst(("metadata.name" + op).count))
            }
        }
        return nil
    }

    /// Throws 403 unless the caller may.
    func authorize(_ a: RequestAttributes) async throws {
        if try await decide(a).allowed { return }
        throw Self.forbidden(a)
    }

    /// The authorizers in turn (system:masters, the Node authorizer, RBAC): whether `a` is allowed,
    /// and why not when an authorizer said so (a SubjectAccessReview's reason).
    func decide(_ a: RequestAttributes) async throws -> (allowed: Bool, reason: String) {
        if a.user.groups.contains("system:masters") { return (true, "") }
        var reason = ""
        if let node = NodeAuthorizer.nodeName(a.user) {
            switch try await nodeDecision(a, node: node) {
            case .allow: return (true, "")
            case .deny(let why): reason = why
            case .noOpinion: break
            }
        }
        if try await rbacAuthorizer().allows(a) { return (true, "") }
        return (false, reason)
    }

    /// The Node authorizer, with the pod graph read from the store only when the request needs it.
    func nodeDecision(_ a: RequestAttributes, node: String) async throws -> NodeAuthorizer.Decision {
        let podType = ResourceRegistry.lookup(groupVersion: "v1", plural: "pods")!
        return try await nodes.decide(a, podNode: { [storage] ns, name in
            guard let pod = try? await storage.get(podType, namespace: ns, name: name) else { return nil }
            return pod.object.value(at: "spec.nodeName")?.stringValue ?? ""
        }, referenced: { [storage] ns, kind, name in
            let pods = try await storage.store.list(prefix: ResourceStorage.listPrefix(podType, namespace: ns), limit: nil, continueAfter: nil, revision: nil)
            return pods.items.contains { kv in
                guard let pod = try? JSONValue.parse(kv.value), pod.value(at: "spec.nodeName")?.stringValue == node else { return false }
                return Self.references(pod, kind: kind, name: name)
            }
        }, volumeNodes: { [storage] name in
            guard let stored = try? await storage.get(PersistentVolume.resource, namespace: nil, name: name) else { return nil }
            return VolumeMatching.pinnedNodes(PersistentVolume(json: stored.object))
        })
    }

    /// Whether a pod uses secret/configmap `name` (volumes, projected sources, env, envFrom, image
    /// pull secrets), or runs as service account `name`.
    static func references(_ pod: JSONValue, kind: String, name: String) -> Bool {
        if kind == "serviceaccounts" { return (pod.value(at: "spec.serviceAccountName")?.stringValue ?? "default") == name }
        let key = kind == "secrets" ? "secret" : "configMap"
        let nameField = kind == "secrets" ? "secretName" : "name"
        let spec = pod["spec"] ?? .null
        for v in spec["volumes"]?.arrayValue ?? [] {
            if v[key]?[nameField]?.stringValue == name { return true }
            for source in v["projected"]?["sources"]?.arrayValue ?? [] where source[key]?["name"]?.stringValue == name { return true }
        }
        if kind == "secrets", (spec["imagePullSecrets"]?.arrayValue ?? []).contains(where: { $0["name"]?.stringValue == name }) { return true }
        let refKey = kind == "secrets" ? "secretKeyRef" : "configMapKeyRef"
        let fromKey = kind == "secrets" ? "secretRef" : "configMapRef"
        for c in (spec["containers"]?.arrayValue ?? []) + (spec["initContainers"]?.arrayValue ?? []) {
            for e in c["env"]?.arrayValue ?? [] where e["valueFrom"]?[refKey]?["name"]?.stringValue == name { return true }
            for e in c["envFrom"]?.arrayValue ?? [] where e[fromKey]?["name"]?.stringValue == name { return true }
        }
        return false
    }

    /// RBAC over the stored roles and bindings, reloaded at most once a second (and after changes through this server).
    func rbacAuthorizer() async throws -> RBACAuthorizer {
        if let cached = rbac.withLock({ $0 }), Date().timeIntervalSince(cached.loaded) < 1 { return cached.authorizer }
        func all(_ plural: String) async throws -> [JSONValue] {
            let type = ResourceRegistry.lookup(groupVersion: "rbac.authorization.k8s.io/v1", plural: plural)!
            return try await storage.store.list(prefix: ResourceStorage.prefix(type), limit: nil, continueAfter: nil, revision: nil)
                .items.compactMap { try? JSONValue.parse($0.value) }
        }
        let authorizer = RBACAuthorizer(roles: try await all("roles"), clusterRoles: try await all("clusterroles"),
                                        roleBindings: try await all("rolebindings"), clusterRoleBindings: try await all("clusterrolebindings"))
        rbac.withLock { $0 = (authorizer, Date()) }
        return authorizer
    }

    func invalidate() { rbac.withLock { $0 = nil } }

    /// Kubernetes' 403: `pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default"`;
    /// the subject is the group-qualified resource without its subresource (`deployments.apps "web"`, `pods "x"` for pods/exec).
    static func forbidden(_ a: RequestAttributes) -> APIError {
        let what = a.isResourceRequest ? (a.apiGroup.isEmpty ? a.resource : "\(a.resource).\(a.apiGroup)") + (a.name.isEmpty ? "" : " \"\(a.name)\"") : ""
        let message = (a.isResourceRequest ? "\(what) is forbidden: " : "forbidden: ") + "User \"\(a.user.name)\" cannot \(a.describe)"
        guard a.isResourceRequest else { return APIError(Status(code: 403, reason: "Forbidden", message: message)) }
        return APIError(Status.forbidden(group: a.apiGroup, resource: a.resource, name: a.name.isEmpty ? nil : a.name, message: message))
    }
}
