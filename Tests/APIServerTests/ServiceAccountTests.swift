// Pod identity on a master serving TLS: ServiceAccount admission (the default account, the
// injected kube-api-access volume and mounts, automountServiceAccountToken on the pod and on the
// account, 403 for a missing account), TokenRequests bound to a pod that stop authenticating
// once it is gone, a node's tokens only for its own pods' accounts, kube-root-ca.crt in every
// namespace, and the pod DNS and Service name validation.
import API
import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct ServiceAccountTests {
    static let mountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

    func parse(_ body: String) -> JSONValue { (try? JSONValue.parse(body)) ?? .null }

    func pod(_ name: String, spec: String = "") -> String {
        #"{"metadata":{"name":"\#(name)"},"spec":{\#(spec.isEmpty ? "" : spec + ",")"containers":[{"name":"c","image":"busybox"}]}}"#
    }

    /// The JWT's claims (its middle part), unverified.
    func claims(_ token: String) -> JSONValue {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return .null }
        var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        return Data(base64Encoded: b64).flatMap { try? JSONValue.parse(Array($0)) } ?? .null
    }

    func setUp(_ s: SecurityTests.Secured) throws {
        #expect(try s.admin("POST", "/api/v1/namespaces", body: #"{"metadata":{"name":"apps"}}"#).code == 201)
        #expect(try s.admin("POST", "/api/v1/namespaces/apps/serviceaccounts", body: #"{"metadata":{"name":"robot"}}"#).code == 201)
        #expect(try s.admin("POST", "/api/v1/namespaces/apps/serviceaccounts",
                            body: #"{"metadata":{"name":"quiet"},"automountServiceAccountToken":false}"#).code == 201)
    }

    @Test func admissionDefaultsTheAccountAndMountsItsToken() throws {
        let s = try SecurityTests.start()
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        try setUp(s)
        let spec = #""initContainers":[{"name":"i","image":"busybox"}]"#
        let made = try s.admin("POST", "/api/v1/namespaces/apps/pods", body: pod("web", spec: spec))
        #expect(made.code == 201, "\(made)")
        let p = parse(made.body)
        #expect(p.value(at: "spec.serviceAccountName") == "default")
        #expect(p.value(at: "spec.serviceAccount") == "default")
        let volumes = p.value(at: "spec.volumes")?.arrayValue ?? []
        #expect(volumes.count == 1)
        let name = volumes.first?["name"]?.stringValue ?? ""
        #expect(name.hasPrefix("kube-api-access-") && name.count == "kube-api-access-".count + 5, "\(name)")
        #expect(volumes.first?["projected"] == parse("""
            {"defaultMode":420,"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},
             {"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},
             {"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}]}
            """))
        let mount = parse(#"{"name":"\#(name)","readOnly":true,"mountPath":"\#(Self.mountPath)"}"#)
        for path in ["spec.containers", "spec.initContainers"] {
            #expect(p.value(at: path)?.arrayValue?.first?["volumeMounts"] == .array([mount]), "\(path)")
        }

        // Opting out: the pod (which wins over its account), or the account.
        let off = parse(try s.admin("POST", "/api/v1/namespaces/apps/pods", body: pod("off", spec: #""automountServiceAccountToken":false"#)).body)
        #expect(off.value(at: "spec.volumes") == nil && off.value(at: "spec.containers")?.arrayValue?.first?["volumeMounts"] == nil)
        let quiet = parse(try s.admin("POST", "/api/v1/namespaces/apps/pods", body: pod("quiet", spec: #""serviceAccountName":"quiet""#)).body)
        #expect(quiet.value(at: "spec.serviceAccountName") == "quiet" && quiet.value(at: "spec.volumes") == nil)
        let loud = parse(try s.admin("POST", "/api/v1/namespaces/apps/pods",
                                     body: pod("loud", spec: #""serviceAccountName":"quiet","automountServiceAccountToken":true"#)).body)
        #expect(loud.value(at: "spec.volumes")?.arrayValue?.count == 1)
        // The deprecated spec.serviceAccount names the account when serviceAccountName doesn't.
        let old = parse(try s.admin("POST", "/api/v1/namespaces/apps/pods", body: pod("old", spec: #""serviceAccount":"robot""#)).body)
        #expect(old.value(at: "spec.serviceAccountName") == "robot")
        // A container that mounts something at the path keeps it; the volume is still added for the other.
        let own = """
            {"metadata":{"name":"own"},"spec":{"volumes":[{"name":"mine","emptyDir":{}}],"containers":[
              {"name":"a","image":"busybox","volumeMounts":[{"name":"mine","mountPath":"\(Self.mountPath)"}]},{"name":"b","image":"busybox"}]}}
            """
        let kept = parse(try s.admin("POST", "/api/v1/namespaces/apps/pods", body: own).body)
        let containers = kept.value(at: "spec.containers")?.arrayValue ?? []
        #expect(containers.first?["volumeMounts"]?.arrayValue?.map { $0["name"] } == ["mine"])
        #expect(containers.last?["volumeMounts"]?.arrayValue?.first?["name"]?.stringValue?.hasPrefix("kube-api-access-") == true)
        #expect(kept.value(at: "spec.volumes")?.arrayValue?.count == 2)

        // An account that does not exist: 403 in kube-apiserver's words.
        let ghost = try s.admin("POST", "/api/v1/namespaces/apps/pods", body: pod("ghost", spec: #""serviceAccountName":"ghost""#))
        #expect(ghost.code == 403, "\(ghost)")
        #expect(parse(ghost.body)["message"] == #"pods "ghost" is forbidden: error looking up service account apps/ghost: serviceaccount "ghost" not found"#)
        // Mirror pods are stored as their node wrote them.
        let mirror = parse(try s.admin("POST", "/api/v1/namespaces/apps/pods", body: """
            {"metadata":{"name":"static-n1","annotations":{"kubernetes.io/config.mirror":"x"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}
            """).body)
        #expect(mirror.value(at: "spec.serviceAccountName") == nil && mirror.value(at: "spec.volumes") == nil)
    }

    /// Without TLS no tokens are issued, so none are mounted; the account is still defaulted and checked.
    @Test func plainHTTPDefaultsWithoutMounting() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let made = try m.client.post("/api/v1/namespaces/default/pods", pod("web"))
        #expect(made.code == 201)
        #expect(made.json.value(at: "spec.serviceAccountName") == "default" && made.json.value(at: "spec.volumes") == nil)
        #expect(try m.client.post("/api/v1/namespaces/default/pods", pod("x", spec: #""serviceAccountName":"nobody""#)).code == 403)
    }

    @Test func boundTokensDieWithTheirPod() throws {
        let s = try SecurityTests.start()
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        try setUp(s)
        let p = parse(try s.admin("POST", "/api/v1/namespaces/apps/pods", body: pod("p1", spec: #""serviceAccountName":"robot""#)).body)
        let uid = p.value(at: "metadata.uid")?.stringValue ?? ""
        func request(_ ref: String, account: String = "robot") throws -> (code: Int, body: String) {
            try s.admin("POST", "/api/v1/namespaces/apps/serviceaccounts/\(account)/token", body: #"{"spec":{"boundObjectRef":\#(ref)}}"#)
        }
        let ref = #"{"apiVersion":"v1","kind":"Pod","name":"p1","uid":"\#(uid)"}"#
        let issued = try request(ref)
        #expect(issued.code == 201, "\(issued)")
        let response = parse(issued.body)
        #expect(response.value(at: "spec.boundObjectRef") == parse(ref))
        let token = response.value(at: "status.token")?.stringValue ?? ""
        #expect(claims(token)["kubernetes.io"]?["pod"] == parse(#"{"name":"p1","uid":"\#(uid)"}"#))
        #expect(claims(token)["kubernetes.io"]?["serviceaccount"]?["name"] == "robot")
        #expect(try s.call("GET", "/apis", token: token).code == 200)

        // The binding must name the pod as it is.
        let stale = try request(#"{"apiVersion":"v1","kind":"Pod","name":"p1","uid":"stale"}"#)
        #expect(stale.code == 409 && stale.body.contains("the UID in the bound object reference (stale) does not match the UID in record"), "\(stale)")
        #expect(try request(#"{"apiVersion":"v1","kind":"Pod","name":"gone"}"#).code == 404)
        let other = try request(ref, account: "default")
        #expect(other.code == 400 && other.body.contains("to pod running with different serviceaccount name"), "\(other)")
        let odd = try request(#"{"apiVersion":"apps/v1","kind":"Deployment","name":"d"}"#)
        #expect(odd.code == 400 && odd.body.contains("cannot bind token to object of type apps/v1, Kind=Deployment"), "\(odd)")

        // Secrets bind too.
        let secret = parse(try s.admin("POST", "/api/v1/namespaces/apps/secrets", body: #"{"metadata":{"name":"key"}}"#).body)
        let secretToken = parse(try request(#"{"kind":"Secret","apiVersion":"v1","name":"key"}"#).body).value(at: "status.token")?.stringValue ?? ""
        #expect(claims(secretToken)["kubernetes.io"]?["secret"]?["uid"] == secret.value(at: "metadata.uid"))
        #expect(try s.call("GET", "/apis", token: secretToken).code == 200)
        #expect(try s.admin("DELETE", "/api/v1/namespaces/apps/secrets/key").code == 200)
        #expect(try s.call("GET", "/apis", token: secretToken).code == 401)

        // The pod deleted (unscheduled: at once), its token no longer authenticates; a new pod of that name doesn't bring it back.
        #expect(try s.admin("DELETE", "/api/v1/namespaces/apps/pods/p1").code == 200)
        #expect(try s.call("GET", "/apis", token: token).code == 401)
        #expect(try s.admin("POST", "/api/v1/namespaces/apps/pods", body: pod("p1", spec: #""serviceAccountName":"robot""#)).code == 201)
        #expect(try s.call("GET", "/apis", token: token).code == 401)
    }

    @Test func nodesGetTokensOnlyForTheirPods() throws {
        let s = try SecurityTests.start()
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        try setUp(s)
        #expect(try s.admin("POST", "/api/v1/namespaces/apps/serviceaccounts", body: #"{"metadata":{"name":"other"}}"#).code == 201)
        let mine = parse(try s.admin("POST", "/api/v1/namespaces/apps/pods", body: pod("mine", spec: #""nodeName":"n1","serviceAccountName":"robot""#)).body)
        let theirs = parse(try s.admin("POST", "/api/v1/namespaces/apps/pods", body: pod("theirs", spec: #""nodeName":"n2","serviceAccountName":"other""#)).body)
        func ref(_ p: JSONValue) -> String {
            #"{"apiVersion":"v1","kind":"Pod","name":"\#(p.value(at: "metadata.name")?.stringValue ?? "")","uid":"\#(p.value(at: "metadata.uid")?.stringValue ?? "")"}"#
        }
        func token(_ account: String, _ body: String) throws -> (code: Int, body: String) {
            try s.call("POST", "/api/v1/namespaces/apps/serviceaccounts/\(account)/token", token: "node1-token", body: body)
        }
        let ok = try token("robot", #"{"spec":{"audiences":["api"],"boundObjectRef":\#(ref(mine))}}"#)
        #expect(ok.code == 201, "\(ok)")
        #expect(claims(parse(ok.body).value(at: "status.token")?.stringValue ?? "")["kubernetes.io"]?["pod"]?["name"] == "mine")
        // Another node's pod's account: refused by the authorizer; unbound, or bound to another node's pod: by the binding rule.
        #expect(try token("other", #"{"spec":{"boundObjectRef":\#(ref(theirs))}}"#).code == 403)
        let unbound = try token("robot", "{}")
        #expect(unbound.code == 403 && unbound.body.contains("node requested token not bound to a pod"), "\(unbound)")
        #expect(try token("robot", #"{"spec":{"boundObjectRef":{"apiVersion":"v1","kind":"Pod","name":"mine"}}}"#).body
            .contains("node requested token with a pod binding without a uid"))
        // A robot pod on n2: the account is one n1 may use, the pod is not n1's.
        let far = parse(try s.admin("POST", "/api/v1/namespaces/apps/pods", body: pod("far", spec: #""nodeName":"n2","serviceAccountName":"robot""#)).body)
        let elsewhere = try token("robot", #"{"spec":{"boundObjectRef":\#(ref(far))}}"#)
        #expect(elsewhere.code == 403 && elsewhere.body.contains("node requested token bound to a pod scheduled on a different node"), "\(elsewhere)")

        // The projected kube-root-ca.crt of its pods: readable by name, also as a single-object list or watch.
        #expect(try s.admin("POST", "/api/v1/namespaces/apps/configmaps", body: #"{"metadata":{"name":"kube-root-ca.crt"},"data":{"ca.crt":"x"}}"#).code == 201)
        #expect(try s.call("GET", "/api/v1/namespaces/apps/configmaps/kube-root-ca.crt", token: "node1-token").code == 200)
        #expect(try s.call("GET", "/api/v1/namespaces/apps/configmaps?fieldSelector=metadata.name%3Dkube-root-ca.crt", token: "node1-token").code == 200)
        #expect(try s.call("GET", "/api/v1/namespaces/apps/configmaps", token: "node1-token").code == 403)
        #expect(try s.call("GET", "/api/v1/namespaces/apps/configmaps?fieldSelector=metadata.name%3Dsomething-else", token: "node1-token").code == 403)
    }

    @Test func everyNamespaceGetsTheRootCA() throws {
        let s = try SecurityTests.start(extraArgs: ["--controllers", "--no-leader-elect"])
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        let ca = try String(contentsOfFile: s.ca, encoding: .utf8)
        let path = "/api/v1/namespaces/fresh/configmaps/kube-root-ca.crt"
        /// The ConfigMap once it holds the CA (nil after 15 s).
        func published() -> JSONValue? {
            for _ in 0..<60 {
                if let r = try? s.admin("GET", path), r.code == 200, parse(r.body)["data"]?["ca.crt"]?.stringValue == ca { return parse(r.body) }
                Thread.sleep(forTimeInterval: 0.25)
            }
            return nil
        }
        #expect(try s.admin("POST", "/api/v1/namespaces", body: #"{"metadata":{"name":"fresh"}}"#).code == 201)
        let cm = try #require(published())
        #expect(cm.value(at: "metadata.annotations")?["kubernetes.io/description"]?.stringValue?.hasPrefix("Contains a CA bundle that can be used to verify the kube-apiserver") == true)
        #expect(cm.value(at: "data")?.objectValue?.count == 1)
        // Edited: put back. Deleted: made again.
        #expect(try s.admin("PATCH", path, body: #"{"data":{"ca.crt":"forged","extra":"x"}}"#, extra: ["-H", "Content-Type: application/merge-patch+json"]).code == 200)
        #expect(published()?.value(at: "data")?.objectValue?.count == 1)
        #expect(try s.admin("DELETE", path).code == 200)
        #expect(published() != nil)
        // (The built-in namespaces have it too.)
        #expect(try s.admin("GET", "/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt").code == 200)
    }

    @Test func dnsSettingsAndServiceNamesAreValidated() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        func message(_ path: String, _ body: String) throws -> String {
            let r = try m.client.post(path, body)
            #expect(r.code == 422, "\(r.code) \(String(decoding: r.body, as: UTF8.self))")
            return r.json["message"]?.stringValue ?? ""
        }
        #expect(try message("/api/v1/namespaces/default/services", #"{"metadata":{"name":"1web"},"spec":{"ports":[{"port":80}]}}"#)
            == #"Service "1web" is invalid: metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#)
        let pods = "/api/v1/namespaces/default/pods"
        #expect(try message(pods, pod("p", spec: #""dnsPolicy":"Google""#))
            == #"Pod "p" is invalid: spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None""#)
        #expect(try message(pods, pod("p", spec: #""dnsConfig":{"nameservers":["1.1.1.1","2.2.2.2","3.3.3.3","4.4.4.4"]}"#))
            == #"Pod "p" is invalid: spec.dnsConfig.nameservers: Invalid value: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"}: must not have more than 3 nameservers"#)
        #expect(try message(pods, pod("p", spec: #""dnsPolicy":"None","dnsConfig":{"searches":["a.example"]}"#))
            == "Pod \"p\" is invalid: spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when `dnsPolicy` is None")
        #expect(try message(pods, pod("p", spec: #""hostname":"Web_1""#)).contains("spec.hostname: Invalid value: \"Web_1\": a lowercase RFC 1123 label"))
        #expect(try message(pods, pod("p", spec: #""hostAliases":[{"ip":"10.0.0.300","hostnames":["db"]}]"#))
            .contains(#"spec.hostAliases[0].ip: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"#))
        let searches = (0..<33).map { "\"s\($0).example\"" }.joined(separator: ",")
        #expect(try message(pods, pod("p", spec: #""dnsConfig":{"searches":[\#(searches)]}"#)).contains("must not have more than 32 search paths"))
        let ok = pod("p", spec: #""hostname":"web-0","subdomain":"web","dnsPolicy":"None","dnsConfig":{"nameservers":["1.1.1.1","2001:db8::1"],"searches":["corp.example."]},"hostAliases":[{"ip":"10.0.0.3","hostnames":["db.local"]}]"#)
        #expect(try m.client.post(pods, ok).code == 201)
    }
}
