// The reviews on a secured master: TokenReview (static, service account and bad tokens),
// SubjectAccessReview and LocalSubjectAccessReview (allowed, denied, invalid), kubectl auth can-i
// (SelfSubjectAccessReview) and whoami (SelfSubjectReview) with kubectl 1.27 and 1.33; and
// /metrics under RBAC (anonymous and unbound callers refused, group system:monitoring let in).
import API
import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct AccessReviewTests {
    /// A master with --tls and tokens for alice, a scraper in system:monitoring and node n1.
    static func start() throws -> SecurityTests.Secured {
        let dir = try TestEnv.makeTempDir("skiff-review")
        try """
        alice-token,alice,1001
        scraper-token,prometheus,1002,"system:monitoring"
        node1-token,system:node:n1,n1,"system:nodes"
        """.write(toFile: dir + "/tokens.csv", atomically: true, encoding: .utf8)
        let m = try MasterProcess(extraArgs: ["--tls", "--token-auth-file", dir + "/tokens.csv"])
        return SecurityTests.Secured(m: m, dir: dir)
    }

    static func json(_ body: String) -> JSONValue { (try? JSONValue.parse(Array(body.utf8))) ?? .null }

    @Test func tokenReviews() throws {
        let s = try Self.start()
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        let path = "/apis/authentication.k8s.io/v1/tokenreviews"
        func review(_ token: String, as caller: String? = nil) throws -> (code: Int, body: JSONValue) {
            let body = #"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"\#(token)"}}"#
            let r = try caller.map { try s.call("POST", path, token: $0, body: body) } ?? s.admin("POST", path, body: body)
            return (r.code, Self.json(r.body))
        }
        let alice = try review("alice-token")
        #expect(alice.code == 201, "\(alice)")
        #expect(alice.body["kind"] == "TokenReview" && alice.body.value(at: "status.authenticated") == .bool(true), "\(alice)")
        #expect(alice.body.value(at: "status.user.username") == "alice")
        #expect(alice.body.value(at: "status.user.groups")?.arrayValue?.contains("system:authenticated") == true)
        #expect(alice.body.value(at: "spec.token") == "alice-token", "the question is echoed")
        let forged = try review("forged")
        #expect(forged.code == 201 && forged.body.value(at: "status.authenticated") == .bool(false), "\(forged)")
        #expect(forged.body.value(at: "status.error")?.stringValue?.isEmpty == false)
        #expect(forged.body.value(at: "status.user.username") == nil)
        // A service account's token (kubectl create token) is its account, in its groups.
        let created = try s.kubectl(["create", "token", "default"])
        #expect(created.status == 0, "\(created.stderr)")
        let account = try review(created.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(account.body.value(at: "status.user.username") == "system:serviceaccount:default:default", "\(account)")
        #expect(account.body.value(at: "status.user.groups")?.arrayValue?.contains("system:serviceaccounts:default") == true)
        // An empty token is a bad request; reviews are only created; a node may ask, alice may not.
        let empty = try s.admin("POST", path, body: #"{"spec":{}}"#)
        #expect(empty.code == 400 && empty.body.contains("token is required for TokenReview"), "\(empty)")
        #expect(try s.admin("GET", path).code == 405)
        #expect(try review("alice-token", as: "node1-token").body.value(at: "status.authenticated") == .bool(true))
        let refused = try review("alice-token", as: "alice-token")
        #expect(refused.code == 403, "\(refused)")
        // Discovery: create only.
        let resources = Self.json(try s.admin("GET", "/apis/authentication.k8s.io/v1").body)
        let entry = resources["resources"]?.arrayValue?.first { $0["name"] == "tokenreviews" }
        #expect(entry?["verbs"] == ["create"], "\(resources)")
    }

    @Test func subjectAccessReviews() throws {
        let s = try Self.start()
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        let path = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
        func allowed(_ spec: String, as caller: String? = nil) throws -> (code: Int, body: JSONValue) {
            let body = #"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":\#(spec)}"#
            let r = try caller.map { try s.call("POST", path, token: $0, body: body) } ?? s.admin("POST", path, body: body)
            return (r.code, Self.json(r.body))
        }
        let metricsOfN1 = #"{"user":"alice","groups":["system:authenticated"],"resourceAttributes":{"verb":"get","resource":"nodes","subresource":"metrics","name":"n1"}}"#
        let before = try allowed(metricsOfN1)
        #expect(before.code == 201 && before.body.value(at: "status.allowed") == .bool(false), "\(before)")
        #expect(before.body.value(at: "spec.user") == "alice")
        let bound = try s.kubectl(["create", "clusterrolebinding", "alice-kubelet", "--clusterrole=system:kubelet-api-admin", "--user=alice"])
        #expect(bound.status == 0, "\(bound.stderr)")
        #expect(try allowed(metricsOfN1).body.value(at: "status.allowed") == .bool(true))
        // Non-resource paths: /metrics for the system:monitoring group (the default binding), not for alice.
        #expect(try allowed(#"{"user":"alice","nonResourceAttributes":{"path":"/metrics","verb":"get"}}"#).body.value(at: "status.allowed") == .bool(false))
        #expect(try allowed(#"{"user":"prometheus","groups":["system:monitoring"],"nonResourceAttributes":{"path":"/metrics","verb":"get"}}"#)
            .body.value(at: "status.allowed") == .bool(true))
        // A node's own Node, not another node's proxy: the Node authorizer's reason comes back on a denial.
        let node = try allowed(#"{"user":"system:node:n1","groups":["system:nodes"],"resourceAttributes":{"verb":"update","resource":"nodes","name":"n2"}}"#)
        #expect(node.body.value(at: "status.allowed") == .bool(false) && node.body.value(at: "status.reason")?.stringValue?.contains("n2") == true, "\(node)")
        #expect(try allowed(#"{"user":"system:node:n1","groups":["system:nodes"],"resourceAttributes":{"verb":"get","resource":"nodes","subresource":"proxy","name":"n2"}}"#)
            .body.value(at: "status.allowed") == .bool(false))
        // Both attribute sets, neither, or no subject: 422 with the field.
        let both = try allowed(#"{"user":"alice","resourceAttributes":{"verb":"get","resource":"pods"},"nonResourceAttributes":{"path":"/x","verb":"get"}}"#)
        #expect(both.code == 422 && both.body["reason"] == "Invalid", "\(both)")
        #expect(try allowed(#"{"user":"alice"}"#).code == 422)
        let nobody = try allowed(#"{"resourceAttributes":{"verb":"get","resource":"pods"}}"#)
        #expect(nobody.code == 422 && nobody.body.value(at: "details.causes")?.arrayValue?.first?["field"] == "spec.user", "\(nobody)")
        // Asking needs permission (system:auth-delegator upstream; nodes may).
        #expect(try allowed(metricsOfN1, as: "alice-token").code == 403)
        #expect(try allowed(metricsOfN1, as: "node1-token").code == 201)
        // LocalSubjectAccessReview: the namespace defaults to the request's, and must match it.
        let local = "/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews"
        let defaulted = Self.json(try s.admin("POST", local, body: #"{"spec":{"user":"alice","resourceAttributes":{"verb":"get","resource":"pods"}}}"#).body)
        #expect(defaulted.value(at: "spec.resourceAttributes.namespace") == "default" && defaulted["kind"] == "LocalSubjectAccessReview", "\(defaulted)")
        let other = try s.admin("POST", local, body: #"{"spec":{"user":"alice","resourceAttributes":{"verb":"get","resource":"pods","namespace":"kube-system"}}}"#)
        #expect(other.code == 400 && other.body.contains("spec.resourceAttributes.namespace must match namespace: default"), "\(other)")
    }

    @Test(arguments: ["1.27", "1.33"]) func kubectlAuthCanIAndWhoami(version: String) throws {
        let s = try Self.start()
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        let kubectl = try TestEnv.kubectl(version)
        func asAlice(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try TestEnv.capture([kubectl, "--kubeconfig", "/dev/null", "--server", s.url, "--certificate-authority", s.ca, "--token", "alice-token",
                                 "--cache-dir", s.dir + "/kcache-" + version] + args)
        }
        let no = try asAlice(["auth", "can-i", "list", "pods", "-n", "default"])
        #expect(no.status != 0 && no.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "no", "\(no)")
        #expect(try s.kubectl(["create", "rolebinding", "alice-view", "--clusterrole=view", "--user=alice", "-n", "default"]).status == 0)
        let yes = try asAlice(["auth", "can-i", "list", "pods", "-n", "default"])
        #expect(yes.status == 0 && yes.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "yes", "\(yes)")
        #expect(try asAlice(["auth", "can-i", "get", "/metrics"]).stdout.contains("no"))
        #expect(try s.kubectl(["auth", "can-i", "get", "/metrics"]).stdout.contains("yes"))
        // whoami (authentication.k8s.io/v1 SelfSubjectReview) arrived in kubectl 1.28.
        if version != "1.27" {
            let whoami = try asAlice(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"])
            #expect(whoami.status == 0 && whoami.stdout == "alice", "\(whoami)")
        }
    }

    @Test func metricsNeedPermission() throws {
        let s = try Self.start()
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        let anonymous = try s.call("GET", "/metrics")
        #expect(anonymous.code == 403 && anonymous.body.contains(#"cannot get path \"/metrics\""#), "\(anonymous)")
        #expect(try s.call("GET", "/metrics", token: "forged").code == 401)
        #expect(try s.call("GET", "/metrics", token: "alice-token").code == 403)
        let scraped = try s.call("GET", "/metrics", token: "scraper-token")
        #expect(scraped.code == 200, "\(scraped.code)")
        #expect(PrometheusText(scraped.body).sum("apiserver_request_total", ["code": "403"]) >= 2, "\(scraped.body.prefix(2000))")
    }
}
