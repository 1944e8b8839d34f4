// The master with TLS (--tls on loopback, as off it): kubectl works with the admin kubeconfig it
// writes; anonymous and wrong-identity requests are refused on every route (401 for bad
// credentials, 403 otherwise, health and version public); RBAC grants exactly what roles say
// (table-driven); a node may only write its own objects and read what its pods use; the
// certificates verify against the cluster CA, survive a restart, and are renewed near expiry.
import API
import Foundation
@testable import Auth
import Testing
import TestSupport

@Suite(.serialized) struct SecurityTests {
    struct Secured {
        let m: MasterProcess
        let dir: String
        var ca: String { m.dataDir + "/tls/ca.crt" }
        var url: String { "https://127.0.0.1:\(m.port)" }

        /// HTTP status (and body) of a request with `token` (nil: anonymous), verifying the server against the CA.
        func call(_ method: String, _ path: String, token: String? = nil, body: String? = nil, extra: [String] = []) throws -> (code: Int, body: String) {
            var argv = ["/usr/bin/curl", "-s", "--cacert", ca, "-X", method, "-w", "\n%{http_code}"]
            if let token { argv += ["-H", "Authorization: Bearer \(token)"] }
            if let body {
                if !extra.contains(where: { $0.hasPrefix("Content-Type") }) { argv += ["-H", "Content-Type: application/json"] }
                argv += ["-d", body]
            }
            argv += extra + [url + path]
            let out = try TestEnv.capture(argv).stdout
            let code = Int(out.split(separator: "\n").last ?? "") ?? 0
            return (code, String(out.split(separator: "\n").dropLast().joined(separator: "\n")))
        }

        /// As the cluster admin (its client certificate).
        func admin(_ method: String, _ path: String, body: String? = nil, extra: [String] = []) throws -> (code: Int, body: String) {
            try call(method, path, body: body, extra: ["--cert", m.dataDir + "/tls/admin.crt", "--key", m.dataDir + "/tls/admin.key"] + extra)
        }

        func kubectl(_ args: [String], stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
            let binary = try TestEnv.kubectl()
            return try TestEnv.capture([binary, "--kubeconfig", m.dataDir + "/admin.kubeconfig", "--cache-dir", dir + "/kcache"] + args, stdin: stdin)
        }
    }

    func start() throws -> Secured { try Self.start() }

    /// A master with --tls and the test tokens (alice, bob, dave in devs, node1 for node n1).
    static func start(extraArgs: [String] = []) throws -> Secured {
        let dir = try TestEnv.makeTempDir("skiff-sec")
        try """
        alice-token,alice,1001
        bob-token,bob,1002
        dave-token,dave,1003,"devs"
        node1-token,system:node:n1,n1,"system:nodes"
        """.write(toFile: dir + "/tokens.csv", atomically: true, encoding: .utf8)
        let m = try MasterProcess(extraArgs: ["--tls", "--token-auth-file", dir + "/tokens.csv"] + extraArgs)
        return Secured(m: m, dir: dir)
    }

    @Test func kubectlOverTLSAndRefusals() throws {
        let s = try start()
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        // The admin kubeconfig works with the real kubectl, over TLS, with a client certificate.
        let mode = (try FileManager.default.attributesOfItem(atPath: s.m.dataDir + "/admin.kubeconfig")[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600)
        #expect((try FileManager.default.attributesOfItem(atPath: s.m.dataDir + "/tls/ca.key")[.posixPermissions] as? Int) == 0o600)
        let created = try s.kubectl(["create", "namespace", "team"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try s.kubectl(["get", "ns", "team", "-o", "name"]).stdout.contains("namespace/team"))

        // Nobody: refused everywhere but the public health and version endpoints.
        for (method, path) in [("GET", "/api/v1/pods"), ("GET", "/api/v1/namespaces/default/secrets"), ("GET", "/apis/apps/v1/deployments"),
                               ("POST", "/api/v1/namespaces/default/configmaps"), ("DELETE", "/api/v1/namespaces/team"),
                               ("GET", "/api/v1/nodes"), ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"), ("GET", "/metrics")] {
            let r = try s.call(method, path, body: method == "POST" ? #"{"metadata":{"name":"x"}}"# : nil)
            #expect(r.code == 403, "\(method) \(path): \(r)")
        }
        let denial = try s.call("GET", "/api/v1/namespaces/default/secrets")
        #expect(denial.body.contains(#"secrets is forbidden: User \"system:anonymous\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""#), "\(denial.body)")
        #expect(try s.call("GET", "/healthz").code == 200)
        #expect(try s.call("GET", "/version").code == 200)
        // A token nobody issued: 401, on every route.
        for path in ["/api/v1/pods", "/healthz", "/apis"] {
            let r = try s.call("GET", path, token: "forged")
            #expect(r.code == 401 && r.body.contains("Unauthorized"), "\(path): \(r)")
        }
        // exec through the API (an upgrade, tunnelled before the HTTP layer) is refused too.
        let exec = try s.call("POST", "/api/v1/namespaces/default/pods/p/exec?command=id", extra: ["-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
                                                                                               "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])
        #expect(exec.code == 403, "\(exec)")
        // Plain HTTP to the TLS port, or a client that doesn't trust the cluster CA: no answer.
        #expect(try TestEnv.capture(["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(s.m.port)/healthz"]).stdout != "200")
        #expect(try TestEnv.capture(["/usr/bin/curl", "-s", "https://127.0.0.1:\(s.m.port)/healthz"]).status != 0)
    }

    @Test func rbacGrantsExactlyWhatItSays() throws {
        let s = try start()
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        let policy = """
        apiVersion: v1
        kind: Namespace
        metadata: {name: team}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: pod-reader, namespace: team}
        rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}, {apiGroups: [""], resources: [configmaps], resourceNames: [public], verbs: [get]}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: alice-reads, namespace: team}
        subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
        roleRef: {kind: Role, name: pod-reader, apiGroup: rbac.authorization.k8s.io}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: devs-view}
        subjects: [{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}]
        roleRef: {kind: ClusterRole, name: view, apiGroup: rbac.authorization.k8s.io}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: bob-edits, namespace: team}
        subjects: [{kind: User, name: bob, apiGroup: rbac.authorization.k8s.io}]
        roleRef: {kind: ClusterRole, name: edit, apiGroup: rbac.authorization.k8s.io}
        """
        let applied = try s.kubectl(["apply", "-f", "-"], stdin: policy)
        #expect(applied.status == 0, "\(applied.stderr)")
        Thread.sleep(forTimeInterval: 1.1)   // (the RBAC snapshot refreshes within a second)
        let cm = #"{"metadata":{"name":"c"}}"#
        let table: [(token: String, method: String, path: String, body: String?, code: Int)] = [
            ("alice-token", "GET", "/api/v1/namespaces/team/pods", nil, 200),                 // Role: list pods in team
            ("alice-token", "GET", "/api/v1/namespaces/default/pods", nil, 403),              // the Role is in team only
            ("alice-token", "POST", "/api/v1/namespaces/team/configmaps", cm, 403),           // pod-reader: no create
            ("dave-token", "GET", "/api/v1/namespaces/default/pods", nil, 200),               // devs → view, cluster-wide
            ("dave-token", "GET", "/api/v1/namespaces/team/secrets", nil, 403),               // view excludes secrets
            ("dave-token", "POST", "/api/v1/namespaces/team/configmaps", cm, 403),            // view: no create
            ("alice-token", "DELETE", "/api/v1/namespaces/team/pods/x", nil, 403),
            ("alice-token", "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles", nil, 403),
            ("bob-token", "GET", "/api/v1/namespaces/team/configmaps/public", nil, 404),      // edit in team: allowed (none there)
            ("bob-token", "POST", "/api/v1/namespaces/team/configmaps", cm, 201),             // edit: create in team
            ("bob-token", "POST", "/api/v1/namespaces/default/configmaps", cm, 403),          // ...not in default
            ("bob-token", "GET", "/api/v1/namespaces/team/secrets", nil, 200),                // edit reads secrets
            ("bob-token", "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles", #"{"metadata":{"name":"r"},"rules":[]}"#, 403), // edit: no RBAC
            ("bob-token", "GET", "/api/v1/nodes", nil, 403),                                  // cluster-scoped: not via a RoleBinding
            ("bob-token", "GET", "/apis", nil, 200),                                          // discovery for the authenticated
        ]
        for row in table {
            let r = try s.call(row.method, row.path, token: row.token, body: row.body)
            #expect(r.code == row.code, "\(row.token) \(row.method) \(row.path): \(r.code) \(r.body.prefix(200))")
        }
        // resourceNames: bob's ConfigMap "public" becomes readable by alice; "c" does not.
        #expect(try s.call("POST", "/api/v1/namespaces/team/configmaps", token: "bob-token", body: #"{"metadata":{"name":"public"}}"#).code == 201)
        #expect(try s.call("GET", "/api/v1/namespaces/team/configmaps/public", token: "alice-token").code == 200)
        #expect(try s.call("GET", "/api/v1/namespaces/team/configmaps/c", token: "alice-token").code == 403)
        // Deleting the binding takes the grant away.
        #expect(try s.kubectl(["delete", "rolebinding", "alice-reads", "-n", "team"]).status == 0)
        Thread.sleep(forTimeInterval: 1.1)
        #expect(try s.call("GET", "/api/v1/namespaces/team/configmaps/public", token: "alice-token").code == 403)
    }

    @Test func aNodeWritesOnlyItsOwnObjects() throws {
        let s = try start()
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        let setup = """
        apiVersion: v1
        kind: Node
        metadata: {name: n1}
        ---
        apiVersion: v1
        kind: Node
        metadata: {name: n2}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: used, namespace: default}
        stringData: {k: v}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: unused, namespace: default}
        stringData: {k: v}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: mine, namespace: default}
        spec: {nodeName: n1, volumes: [{name: s, secret: {secretName: used}}], containers: [{name: c, image: busybox}]}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: theirs, namespace: default}
        spec: {nodeName: n2, containers: [{name: c, image: busybox}]}
        """ + ["n1", "n2"].map { node in
            """

            ---
            apiVersion: v1
            kind: PersistentVolume
            metadata: {name: pv-\(node)}
            spec:
              capacity: {storage: 1Gi}
              accessModes: [ReadWriteOnce]
              hostPath: {path: /srv/\(node)}
              nodeAffinity: {required: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [\(node)]}]}]}}
            """
        }.joined()
        let applied = try s.kubectl(["apply", "-f", "-"], stdin: setup)
        #expect(applied.status == 0, "\(applied.stderr)")
        let status = #"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#
        let patch = ["-H", "Content-Type: application/merge-patch+json"]
        let table: [(method: String, path: String, body: String?, extra: [String], code: Int)] = [
            ("PATCH", "/api/v1/nodes/n1/status", status, patch, 200),
            ("PATCH", "/api/v1/nodes/n2/status", status, patch, 403),
            ("DELETE", "/api/v1/nodes/n1", nil, [], 403),
            ("GET", "/api/v1/nodes/n2", nil, [], 200),
            ("PATCH", "/api/v1/namespaces/default/pods/mine/status", #"{"status":{"phase":"Running"}}"#, patch, 200),
            ("PATCH", "/api/v1/namespaces/default/pods/theirs/status", #"{"status":{"phase":"Running"}}"#, patch, 403),
            ("GET", "/api/v1/namespaces/default/secrets/used", nil, [], 200),
            ("GET", "/api/v1/namespaces/default/secrets/unused", nil, [], 403),
            ("GET", "/api/v1/namespaces/default/secrets", nil, [], 403),
            ("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", #"{"metadata":{"name":"n1"},"spec":{"holderIdentity":"n1"}}"#, [], 201),
            ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2", #"{"metadata":{"name":"n2"}}"#, [], 403),
            ("POST", "/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"x"}}"#, [], 403),
            // Its provisioner deletes the volumes on this node only.
            ("DELETE", "/api/v1/persistentvolumes/pv-n2", nil, [], 403),
            ("DELETE", "/api/v1/persistentvolumes/pv-n1", nil, [], 200),
        ]
        for row in table {
            let r = try s.call(row.method, row.path, token: "node1-token", body: row.body, extra: row.extra)
            #expect(r.code == row.code, "n1 \(row.method) \(row.path): \(r.code) \(r.body.prefix(200))")
        }
    }

    /// kubectl create token: a signed token for a ServiceAccount authenticates as it, gets what RBAC
    /// gives it, and stops working when the account is deleted or the token is altered.
    @Test func serviceAccountTokensAuthenticate() throws {
        let s = try start()
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        #expect(try s.kubectl(["create", "namespace", "apps"]).status == 0)
        #expect(try s.kubectl(["get", "serviceaccount", "default", "-n", "apps", "-o", "name"]).stdout.contains("serviceaccount/default"))
        #expect(try s.kubectl(["create", "serviceaccount", "robot", "-n", "apps"]).status == 0)
        let made = try s.kubectl(["create", "token", "robot", "-n", "apps", "--duration", "15m"])
        #expect(made.status == 0, "\(made.stderr)")
        let token = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.split(separator: ".").count == 3)
        let denied = try s.call("GET", "/api/v1/namespaces/apps/pods", token: token)
        #expect(denied.code == 403 && denied.body.contains("system:serviceaccount:apps:robot"), "\(denied)")
        #expect(try s.kubectl(["create", "rolebinding", "robot-view", "-n", "apps", "--clusterrole", "view", "--serviceaccount", "apps:robot"]).status == 0)
        Thread.sleep(forTimeInterval: 1.1)
        #expect(try s.call("GET", "/api/v1/namespaces/apps/pods", token: token).code == 200)
        #expect(try s.call("GET", "/api/v1/namespaces/default/pods", token: token).code == 403)
        // Altered, or out of range: refused.
        var forged = Array(token)
        forged[forged.count - 5] = forged[forged.count - 5] == "A" ? "B" : "A"
        #expect(try s.call("GET", "/api/v1/namespaces/apps/pods", token: String(forged)).code == 401)
        let tooLong = try s.call("POST", "/api/v1/namespaces/apps/serviceaccounts/robot/token", body: #"{"spec":{"expirationSeconds":9999999}}"#,
                                 extra: ["--cert", s.m.dataDir + "/tls/admin.crt", "--key", s.m.dataDir + "/tls/admin.key"])
        #expect(tooLong.code == 422 && tooLong.body.contains("spec.expirationSeconds"), "\(tooLong)")
        // Deleting the account revokes its tokens.
        #expect(try s.kubectl(["delete", "serviceaccount", "robot", "-n", "apps"]).status == 0)
        #expect(try s.call("GET", "/api/v1/namespaces/apps/pods", token: token).code == 401)
    }

    @Test func tokensExpire() throws {
        let dir = try TestEnv.makeTempDir("skiff-sa")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let signer = try ServiceAccountTokens(directory: dir)
        let t = try signer.issue(namespace: "a", name: "b", uid: "u", audiences: [ServiceAccountTokens.issuer], seconds: 600)
        #expect(signer.verify(t)?.user.name == "system:serviceaccount:a:b")
        #expect(signer.verify(t, now: Date().addingTimeInterval(601)) == nil)
        #expect(signer.verify(t, audience: "vault") == nil)
        #expect((try FileManager.default.attributesOfItem(atPath: dir + "/sa.key")[.posixPermissions] as? Int) == 0o600)
        // Another master's key (a different file) doesn't accept it.
        let otherDir = try TestEnv.makeTempDir("skiff-sa2")
        defer { try? FileManager.default.removeItem(atPath: otherDir) }
        #expect(try ServiceAccountTokens(directory: otherDir).verify(t) == nil)
    }

    /// The CA stays across restarts; a serving certificate near expiry is reissued at start, for the same names.
    @Test func certificatesPersistAndRenew() throws {
        let dir = try TestEnv.makeTempDir("skiff-ca")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try ClusterCA.loadOrCreate(directory: dir)
        let first = try ca.ensure("web", commonName: "web", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        let pem1 = try String(contentsOfFile: first.certPath, encoding: .utf8)
        #expect(try ClusterCA.loadOrCreate(directory: dir).certificatePEM == ca.certificatePEM)
        #expect(try String(contentsOfFile: try ca.ensure("web", commonName: "web", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]).certPath, encoding: .utf8) == pem1)
        // A certificate that expires in a day (as if a year had passed) is renewed.
        let short = try ca.issue(commonName: "web", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], validity: 24 * 3600)
        try short.certificatePEM.write(toFile: first.certPath, atomically: true, encoding: .utf8)
        try short.keyPEM.write(toFile: first.keyPath, atomically: true, encoding: .utf8)
        let renewed = try String(contentsOfFile: try ca.ensure("web", commonName: "web", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]).certPath, encoding: .utf8)
        #expect(renewed != short.certificatePEM && renewed.hasSuffix("\n"))
        // New names mean a new certificate; openssl verifies them against the CA.
        let more = try ca.ensure("web", commonName: "web", dnsNames: ["localhost", "skiff.example"], ipAddresses: ["127.0.0.1"])
        let verify = try TestEnv.capture(["/usr/bin/openssl", "verify", "-CAfile", dir + "/ca.crt", more.certPath])
        #expect(verify.status == 0, "\(verify)")
        let text = try TestEnv.capture(["/usr/bin/openssl", "x509", "-in", more.certPath, "-noout", "-text"]).stdout
        #expect(text.contains("DNS:skiff.example") && text.contains("IP Address:127.0.0.1"))
        // Client certificates carry the identity.
        let client = try ca.issue(commonName: "jane", organizations: ["devs", "ops"])
        let id = try ClusterCA.identity(pem: client.certificatePEM)
        #expect(id.user == "jane" && id.groups == ["devs", "ops"])
    }

    @Test func tokenFileErrorsNameTheLine() throws {
        let dir = try TestEnv.makeTempDir("skiff-tok")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "good,user,1\nbroken-line\n".write(toFile: dir + "/t.csv", atomically: true, encoding: .utf8)
        #expect { try TokenAuthenticator(file: dir + "/t.csv") } throws: { "\($0)".contains("t.csv:2") }
        let ok = TokenAuthenticator()
        ok.add(token: "t", user: UserInfo(name: "u", groups: ["g"]))
        #expect(ok.user(for: "t") == UserInfo(name: "u", groups: ["g", "system:authenticated"]))
    }
}
