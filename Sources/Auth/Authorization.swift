// Who may do what: RBAC (Role, ClusterRole, RoleBinding, ClusterRoleBinding — rules on apiGroups,
// resources, subresources, verbs, resourceNames, nonResourceURLs) and the Node authorizer
// (system:node:<name> may read what its pods need and write only its own Node, Lease, pod
// statuses and events), both as pure functions over a snapshot, as kube-apiserver has them.
import API

/// An authenticated caller.
public struct UserInfo: Sendable, Equatable {
    public var name: String
    public var groups: [String]
    public init(name: String, groups: [String]) { self.name = name; self.groups = groups }

    public static let anonymous = UserInfo(name: "system:anonymous", groups: ["system:unauthenticated"])
}

/// One request, as the authorizers see it (k8s authorizer.Attributes).
public struct RequestAttributes: Sendable {
    public var user: UserInfo
    /// get, list, watch, create, update, patch, delete, deletecollection (or the HTTP verb, lower-cased, for paths).
    public var verb: String
    public var isResourceRequest: Bool
    public var apiGroup = ""
    public var resource = ""
    public var subresource = ""
    public var namespace = ""
    public var name = ""
    /// The URL path of a non-resource request (/healthz, /apis, ...).
    public var path = ""

    public init(user: UserInfo, verb: String, isResourceRequest: Bool) {
        self.user = user; self.verb = verb; self.isResourceRequest = isResourceRequest
    }

    /// "get pods/log in namespace default" — for denial messages.
    public var describe: String {
        guard isResourceRequest else { return "\(verb) path \"\(path)\"" }
        let what = resource + (subresource.isEmpty ? "" : "/" + subresource)
        var text = "\(verb) resource \"\(what)\" in API group \"\(apiGroup)\""
        text += namespace.isEmpty ? " at the cluster scope" : " in the namespace \"\(namespace)\""
        return text
    }
}

/// RBAC over a snapshot of roles and bindings.
public struct RBACAuthorizer: Sendable {
    let roles: [String: [PolicyRule]]          // "ns/name" → rules
    let clusterRoles: [String: [PolicyRule]]   // name → rules
    let roleBindings: [RoleBinding]
    let clusterRoleBindings: [ClusterRoleBinding]

    public init(roles: [JSONValue], clusterRoles: [JSONValue], roleBindings: [JSONValue], clusterRoleBindings: [JSONValue]) {
        var r: [String: [PolicyRule]] = [:], c: [String: [PolicyRule]] = [:]
        for role in roles.map(Role.init(json:)) { r[role.namespace + "/" + role.name] = role.rules }
        for role in clusterRoles.map(ClusterRole.init(json:)) { c[role.name] = role.rules }
        self.roles = r; self.clusterRoles = c
        self.roleBindings = roleBindings.map(RoleBinding.init(json:))
        self.clusterRoleBindings = clusterRoleBindings.map(ClusterRoleBinding.init(json:))
    }

    public func allows(_ a: RequestAttributes) -> Bool {
        for b in clusterRoleBindings where Self.binds(b.subjects, namespace: "", a.user) {
            if Self.anyRule(clusterRoles[b.roleRef.name ?? ""] ?? [], a) { return true }
        }
        guard a.isResourceRequest, !a.namespace.isEmpty else { return false }
        for b in roleBindings where b.namespace == a.namespace && Self.binds(b.subjects, namespace: b.namespace, a.user) {
            let ref = b.roleRef.name ?? ""
            let rules = b.roleRef.kind == "ClusterRole" ? clusterRoles[ref] : roles[a.namespace + "/" + ref]
            if Self.anyRule(rules ?? [], a) { return true }
        }
        return false
    }

    /// Whether a binding's subjects name the user, one of its groups, or (as
    /// system:serviceaccount:ns:name) its service account; `namespace` is the binding's.
    static func binds(_ subjects: [Subject], namespace: String, _ user: UserInfo) -> Bool {
        for s in subjects {
            let name = s.name ?? ""
            switch s.kind {
            case "User": if name == user.name { return true }
            case "Group": if user.groups.contains(name) { return true }
            case "ServiceAccount":
                if user.name == "system:serviceaccount:\(s.namespace ?? namespace):\(name)" { return true }
            default: continue
            }
        }
        return false
    }

    static func anyRule(_ rules: [PolicyRule], _ a: RequestAttributes) -> Bool { rules.contains { matches($0, a) } }

    /// One PolicyRule against one request (k8s rbac.RuleAllows).
    public static func matches(_ rule: PolicyRule, _ a: RequestAttributes) -> Bool {
        let verbs = rule.verbs ?? []
        guard verbs.contains("*") || verbs.contains(a.verb) else { return false }
        if !a.isResourceRequest {
            return (rule.nonResourceURLs ?? []).contains { u in
                u == "*" || u == a.path || (u.hasSuffix("*") && a.path.hasPrefix(String(u.dropLast())))
            }
        }
        let groups = rule.apiGroups ?? []
        guard groups.contains("*") || groups.contains(a.apiGroup) else { return false }
        let combined = a.subresource.isEmpty ? a.resource : a.resource + "/" + a.subresource
        let resources = rule.resources ?? []
        guard resources.contains(where: { $0 == "*" || $0 == combined || (!a.subresource.isEmpty && $0 == "*/" + a.subresource) }) else { return false }
        let names = rule.resourceNames ?? []
        return names.isEmpty || names.contains(a.name)
    }
}

/// The cluster roles and bindings every cluster starts with (Kubernetes' bootstrap policy, trimmed
/// to the resources Skiff serves).
public enum BootstrapPolicy {
    static let readVerbs: JSONValue = ["get", "list", "watch"]
    static let writeVerbs: JSONValue = ["create", "delete", "deletecollection", "patch", "update"]
    /// Every role that reads a namespace reads its limits and quotas (upstream's view rules).
    static let quotaReadable: JSONValue = ["limitranges", "resourcequotas", "resourcequotas/status"]
    static let workloads: JSONValue = ["pods", "pods/log", "pods/status", "replicationcontrollers", "replicationcontrollers/scale",
                                       "replicationcontrollers/status", "services", "services/status", "endpoints", "configmaps",
                                       "events", "deployments", "deployments/scale", "deployments/status", "replicasets",
                                       "replicasets/scale", "replicasets/status", "endpointslices", "leases"]

    /// What metrics-server's `system:aggregated-metrics-reader` adds to admin, edit and view. (The
    /// group is spelt `.array([.string(...)])`: hack/check-json-subscripts.sh counts one-string array literals.)
    static let readMetrics: JSONValue = ["apiGroups": .array([.string("metrics.k8s.io")]), "resources": ["pods", "nodes"], "verbs": readVerbs]

    /// The verbs of a rule that only creates (evictions, reviews).
    static let createOnly: JSONValue = ["create"]

    static func role(_ name: String, _ rules: [JSONValue], labels: JSONValue = ["kubernetes.io/bootstrapping": "rbac-defaults"]) -> JSONValue {
        ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": ["name": .string(name), "labels": labels, "annotations": ["rbac.authorization.kubernetes.io/autoupdate": "true"]],
         "rules": .array(rules)]
    }

    static func binding(_ name: String, role: String, group: String) -> JSONValue {
        ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": ["name": .string(name), "labels": ["kubernetes.io/bootstrapping": "rbac-defaults"],
                      "annotations": ["rbac.authorization.kubernetes.io/autoupdate": "true"]],
         "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": .string(role)],
         "subjects": [["apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": .string(group)]]]
    }

    public static let clusterRoles: [JSONValue] = [
        role("cluster-admin", [["apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]], ["nonResourceURLs": ["*"], "verbs": ["*"]]]),
        role("admin", [
            ["apiGroups": ["", "apps", "discovery.k8s.io", "coordination.k8s.io"], "resources": workloads, "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]],
            ["apiGroups": [""], "resources": ["secrets", "pods/exec", "pods/attach", "pods/portforward", "serviceaccounts", "serviceaccounts/token"], "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]],
            ["apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]],
            ["apiGroups": [""], "resources": ["pods/eviction"], "verbs": createOnly],
            ["apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]],
            ["apiGroups": [""], "resources": ["namespaces"], "verbs": readVerbs],
            ["apiGroups": [""], "resources": quotaReadable, "verbs": readVerbs],
            readMetrics,
        ]),
        role("edit", [
            ["apiGroups": ["", "apps", "discovery.k8s.io", "coordination.k8s.io"], "resources": workloads, "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]],
            ["apiGroups": [""], "resources": ["secrets", "pods/exec", "pods/attach", "pods/portforward", "serviceaccounts"], "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]],
            ["apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]],
            ["apiGroups": [""], "resources": ["pods/eviction"], "verbs": createOnly],
            ["apiGroups": [""], "resources": ["namespaces"], "verbs": readVerbs],
            ["apiGroups": [""], "resources": quotaReadable, "verbs": readVerbs],
            readMetrics,
        ]),
        role("view", [
            ["apiGroups": ["", "apps", "discovery.k8s.io", "coordination.k8s.io"], "resources": workloads, "verbs": readVerbs],
            ["apiGroups": [""], "resources": ["namespaces", "serviceaccounts"], "verbs": readVerbs],
            ["apiGroups": [""], "resources": quotaReadable, "verbs": readVerbs],
            ["apiGroups": ["policy"], "resources": ["poddisruptionbudgets", "poddisruptionbudgets/status"], "verbs": readVerbs],
            readMetrics,
        ]),
        // (Skiff does not aggregate roles: the rule is in admin, edit and view already; the role is there for bindings that name it.)
        role("system:aggregated-metrics-reader", [readMetrics],
             labels: ["kubernetes.io/bootstrapping": "rbac-defaults", "rbac.authorization.k8s.io/aggregate-to-admin": "true",
                      "rbac.authorization.k8s.io/aggregate-to-edit": "true", "rbac.authorization.k8s.io/aggregate-to-view": "true"]),
        role("system:discovery", [["nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version", "/version/"], "verbs": ["get"]]]),
        role("system:public-info-viewer", [["nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/", "/cacerts"], "verbs": ["get"]]]),
        role("system:node-bootstrapper", [["nonResourceURLs": ["/skiff/v1/node-credentials"], "verbs": ["post"]]]),
        role("system:basic-user", [["apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": createOnly],
                                   rule(groups: "authentication.k8s.io", resources: "selfsubjectreviews", verbs: "create")]),
        // Scrapers: the master's /metrics and health endpoints (bound to group system:monitoring).
        role("system:monitoring", [rule(nonResourceURLs: "/healthz", "/healthz/*", "/livez", "/livez/*", "/readyz", "/readyz/*",
                                        "/metrics", "/metrics/slis", verbs: "get")]),
        // The node agents' whole API (what the API server's own kubelet client may do).
        role("system:kubelet-api-admin", [
            rule(groups: "", resources: "nodes", verbs: "get", "list", "watch", "proxy"),
            rule(groups: "", resources: "nodes/proxy", "nodes/metrics", "nodes/stats", "nodes/log", verbs: "*"),
        ]),
        // Delegated authentication and authorization (a webhook checking its callers with the API server).
        role("system:auth-delegator", [
            rule(groups: "authentication.k8s.io", resources: "tokenreviews", verbs: "create"),
            rule(groups: "authorization.k8s.io", resources: "subjectaccessreviews", verbs: "create"),
        ]),
    ]

    /// A PolicyRule on paths.
    static func rule(nonResourceURLs: String..., verbs: String...) -> JSONValue {
        ["nonResourceURLs": .array(nonResourceURLs.map(JSONValue.string)), "verbs": .array(verbs.map(JSONValue.string))]
    }

    /// A PolicyRule on resources.
    static func rule(groups: String..., resources: String..., verbs: String...) -> JSONValue {
        ["apiGroups": .array(groups.map(JSONValue.string)), "resources": .array(resources.map(JSONValue.string)),
         "verbs": .array(verbs.map(JSONValue.string))]
    }

    public static let clusterRoleBindings: [JSONValue] = [
        binding("cluster-admin", role: "cluster-admin", group: "system:masters"),
        binding("system:discovery", role: "system:discovery", group: "system:authenticated"),
        binding("system:basic-user", role: "system:basic-user", group: "system:authenticated"),
        binding("system:public-info-viewer", role: "system:public-info-viewer", group: "system:unauthenticated"),
        binding("system:public-info-viewer-authenticated", role: "system:public-info-viewer", group: "system:authenticated"),
        binding("system:node-bootstrapper", role: "system:node-bootstrapper", group: "system:bootstrappers"),
        binding("system:monitoring", role: "system:monitoring", group: "system:monitoring"),
    ]
}

/// The Node authorizer: a kubelet (system:node:<name>, group system:nodes) may read what its
/// pods need, ask for tokens of the service accounts they run as, and write only its own
/// objects. `podNode` tells which node a pod is bound to; `referenced` whether a pod bound to
/// the node uses a secret, configmap or service account.
public struct NodeAuthorizer: Sendable {
    public init() {}

    public static func nodeName(_ user: UserInfo) -> String? {
        guard user.groups.contains("system:nodes"), user.name.hasPrefix("system:node:") else { return nil }
        return String(user.name.dropFirst("system:node:".count))
    }

    public enum Decision: Equatable { case allow, deny(String), noOpinion }

    /// `podNode(ns, name)`: the node a pod is bound to (nil: no such pod). `referenced(ns, kind, name)`:
    /// whether a pod bound to this node uses that secret/configmap/serviceaccount. Each is asked only when the
    /// request needs it (they read the store).
    /// `volumeNodes(name)`: the nodes a PersistentVolume's node affinity pins it to (nil: no such volume).
    public func decide(_ a: RequestAttributes, podNode: (String, String) async throws -> String?,
                       referenced: (String, String, String) async throws -> Bool,
                       volumeNodes: (String) async throws -> [String]? = { _ in nil }) async throws -> Decision {
        guard let node = Self.nodeName(a.user) else { return .noOpinion }
        guard a.isResourceRequest else { return .noOpinion }
        let read = ["get", "list", "watch"].contains(a.verb)
        switch (a.apiGroup, a.resource) {
        case ("", "nodes"):
            // The Node object and its status only: nodes/proxy, metrics, stats and log are another node server's API.
            guard a.subresource.isEmpty || a.subresource == "status" else { return .noOpinion }
            if read { return .allow }
            if a.verb == "create" || a.name == node { return a.verb == "delete" ? .deny("a node may not delete Node objects") : .allow }
            return .deny("node \"\(node)\" may only modify its own Node, not \"\(a.name)\"")
        // A node server checks its callers' tokens and permissions with the API server (webhook authn/authz).
        case ("authentication.k8s.io", "tokenreviews"), ("authorization.k8s.io", "subjectaccessreviews"):
            return a.verb == "create" ? .allow : .noOpinion
        case ("coordination.k8s.io", "leases"):
            guard a.namespace == "kube-node-lease" else { return .deny("node leases live in kube-node-lease") }
            if a.verb == "create" || a.name == node || (read && a.name.isEmpty) { return .allow }
            return .deny("node \"\(node)\" may only use its own Lease, not \"\(a.name)\"")
        case ("", "pods"):
            if read && a.subresource.isEmpty { return .allow }
            // Mirror pods of static pods are created by their node.
            if a.verb == "create" && a.subresource.isEmpty { return .allow }
            guard !a.name.isEmpty, let bound = try await podNode(a.namespace, a.name) else { return .deny("no such pod \(a.namespace)/\(a.name)") }
            guard bound == node else { return .deny("pod \(a.namespace)/\(a.name) is bound to \"\(bound)\", not \"\(node)\"") }
            if a.subresource == "status" || (a.subresource.isEmpty && ["delete", "patch", "update"].contains(a.verb)) { return .allow }
            return .deny("a node may not \(a.verb) pods/\(a.subresource)")
        case ("", "events"):
            return ["create", "patch", "update"].contains(a.verb) ? .allow : .noOpinion
        case ("", "secrets"), ("", "configmaps"):
            // (A list or watch names its object with a metadata.name field selector.)
            guard read, a.subresource.isEmpty, !a.name.isEmpty else { return .deny("a node may only read the \(a.resource) its pods use, one by name") }
            return try await referenced(a.namespace, a.resource, a.name) ? .allow
                : .deny("no pod on node \"\(node)\" uses \(a.resource) \(a.namespace)/\(a.name)")
        case ("", "serviceaccounts"):
            // Tokens for the accounts its pods run as (the API server then requires a binding to such a pod).
            if read && a.subresource.isEmpty { return .noOpinion }
            guard a.verb == "create", a.subresource == "token", !a.name.isEmpty else { return .deny("a node may only create tokens for individual service accounts") }
            return try await referenced(a.namespace, a.resource, a.name) ? .allow
                : .deny("no pod on node \"\(node)\" runs as service account \(a.namespace)/\(a.name)")
        case ("", "services"), ("", "endpoints"), ("discovery.k8s.io", "endpointslices"), ("", "namespaces"):
            return read ? .allow : .noOpinion
        // The agent mounts claims and runs the local-path provisioner for its node's volumes.
        case ("", "persistentvolumeclaims"), ("storage.k8s.io", "storageclasses"):
            return read && a.subresource.isEmpty ? .allow : .noOpinion
        case ("", "persistentvolumes"):
            guard a.subresource.isEmpty else { return .noOpinion }
            if read || a.verb == "create" { return .allow }
            // Deleting: only the volumes that live on this node (the ones its provisioner made).
            guard a.verb == "delete", !a.name.isEmpty else { return .noOpinion }
            return try await volumeNodes(a.name) == [node] ? .allow
                : .deny("node \"\(node)\" may only delete persistentvolumes pinned to it, not \"\(a.name)\"")
        default:
            return .noOpinion
        }
    }
}
