// The RBAC authorizer as a pure function over roles and bindings (read through the generated
// rbac views): who is bound, which rules match a request.
import API
import Auth
import Testing

@Suite struct RBACAuthorizerTests {
    func request(_ user: UserInfo, _ verb: String, _ resource: String, namespace: String = "", name: String = "",
                 subresource: String = "", group: String = "") -> RequestAttributes {
        var a = RequestAttributes(user: user, verb: verb, isResourceRequest: true)
        a.resource = resource; a.namespace = namespace; a.name = name; a.subresource = subresource; a.apiGroup = group
        return a
    }

    let authorizer = RBACAuthorizer(
        roles: [["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "reader", "namespace": "team-a"],
                 "rules": [["apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"], "verbs": ["get"]]]]],
        clusterRoles: [["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": ["name": "scaler"],
                        "rules": [["apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["update"]],
                                  ["nonResourceURLs": ["/metrics*"], "verbs": ["get"]]]]],
        roleBindings: [["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": "bot-reads", "namespace": "team-a"],
                        "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"],
                        "subjects": [["kind": "ServiceAccount", "name": "bot"]]]],
        clusterRoleBindings: [["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": ["name": "ops-scale"],
                               "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "scaler"],
                               "subjects": [["apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "ops"]]]])

    @Test func serviceAccountSubjectDefaultsToTheBindingsNamespace() {
        let bot = UserInfo(name: "system:serviceaccount:team-a:bot", groups: [])
        #expect(authorizer.allows(request(bot, "get", "configmaps", namespace: "team-a", name: "settings")))
        #expect(!authorizer.allows(request(bot, "get", "configmaps", namespace: "team-a", name: "other")))
        #expect(!authorizer.allows(request(bot, "list", "configmaps", namespace: "team-a")))
        let elsewhere = UserInfo(name: "system:serviceaccount:team-b:bot", groups: [])
        #expect(!authorizer.allows(request(elsewhere, "get", "configmaps", namespace: "team-a", name: "settings")))
    }

    @Test func clusterRoleBindingGrantsGroupsSubresourcesAndPaths() {
        let op = UserInfo(name: "jo", groups: ["ops"])
        #expect(authorizer.allows(request(op, "update", "deployments", namespace: "x", name: "web", subresource: "scale", group: "apps")))
        #expect(!authorizer.allows(request(op, "update", "deployments", namespace: "x", name: "web", group: "apps")))
        var path = RequestAttributes(user: op, verb: "get", isResourceRequest: false)
        path.path = "/metrics/cadvisor"
        #expect(authorizer.allows(path))
        #expect(!authorizer.allows(request(UserInfo(name: "jo", groups: []), "update", "deployments", subresource: "scale", group: "apps")))
    }
}
