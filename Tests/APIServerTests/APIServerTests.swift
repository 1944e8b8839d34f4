import API
import Foundation
import Testing
import TestSupport

let podJSON = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"NAME","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#
func pod(_ name: String, labels: String = #"{"app":"web"}"#) -> String {
    podJSON.replacingOccurrences(of: "NAME", with: name).replacingOccurrences(of: #"{"app":"web"}"#, with: labels)
}

@Suite(.serialized) struct APIServerTests {
    @Test func crudRoundTripWithResourceVersionsAndConflicts() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        let created = try c.post("/api/v1/namespaces/default/pods", pod("web"))
        #expect(created.code == 201)
        let obj = created.json
        #expect(obj.value(at: "metadata.uid")?.stringValue?.count == 36)
        #expect(obj.value(at: "metadata.namespace") == "default")
        #expect(obj.value(at: "spec.restartPolicy") == "Always")
        #expect(obj.value(at: "status.phase") == "Pending")
        let rv = obj.value(at: "metadata.resourceVersion")?.stringValue ?? ""
        #expect(Int(rv) != nil)

        let got = try c.get("/api/v1/namespaces/default/pods/web")
        #expect(got.code == 200)
        #expect(got.json == obj)
        #expect(got.text.hasPrefix(#"{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":""#))

        #expect(try c.post("/api/v1/namespaces/default/pods", pod("web")).json.value(at: "reason") == "AlreadyExists")

        // An update naming the current version wins; the same stale version then conflicts.
        var update = obj
        update["metadata"]?["labels"] = ["app": "web", "v": "2"]
        let updated = try c.put("/api/v1/namespaces/default/pods/web", update.jsonString)
        #expect(updated.code == 200)
        #expect(updated.json.value(at: "metadata.labels.v") == "2")
        #expect(updated.json.value(at: "metadata.resourceVersion") != .string(rv))
        let stale = try c.put("/api/v1/namespaces/default/pods/web", update.jsonString)
        #expect(stale.code == 409)
        #expect(stale.json.value(at: "reason") == "Conflict")
        #expect(stale.json.value(at: "message")?.stringValue?.contains("the object has been modified") == true)

        let patched = try c.patch("/api/v1/namespaces/default/pods/web", #"{"metadata":{"annotations":{"note":"hi"}}}"#)
        #expect(patched.json.value(at: "metadata.annotations.note") == "hi")
        #expect(patched.json.value(at: "metadata.labels.v") == "2")

        let deleted = try c.delete("/api/v1/namespaces/default/pods/web")
        #expect(deleted.code == 200)
        #expect(try c.get("/api/v1/namespaces/default/pods/web").code == 404)
        #expect(try c.get("/api/v1/namespaces/default/pods/web").json.value(at: "message") == #"pods "web" not found"#)
    }

    @Test func badInputGetsAStatusAndTheServerStaysUp() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        let invalid = try c.post("/api/v1/namespaces/default/pods", #"{"metadata":{"name":"Bad_Name"},"spec":{"containers":[{"name":"c"}]}}"#)
        #expect(invalid.code == 422)
        #expect(invalid.json.value(at: "reason") == "Invalid")
        let causes = invalid.json.value(at: "details.causes")?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
        #expect(causes.contains("metadata.name"))
        #expect(causes.contains("spec.containers[0].image"))

        let malformed = try c.post("/api/v1/namespaces/default/pods", #"{"metadata": {"name": "x",}"#)
        #expect(malformed.code == 400)
        #expect(malformed.json.value(at: "message")?.stringValue?.contains("line 1, column") == true)

        #expect(try c.post("/api/v1/namespaces/default/pods", #"{"kind":"Service","apiVersion":"v1","metadata":{"name":"x"}}"#).code == 400)
        #expect(try c.post("/apis/apps/v1/namespaces/default/deployments", #"{"apiVersion":"v1","kind":"Deployment","metadata":{"name":"x"}}"#).code == 400)
        #expect(try c.post("/api/v1/namespaces/nope/pods", pod("x")).code == 404)
        #expect(try c.get("/api/v1/namespaces/default/widgets").code == 404)
        #expect(try c.get("/apis/nope/v1").code == 404)
        // YAML bodies are accepted (one document); malformed YAML is a 400.
        let yamlPod = "apiVersion: v1\nkind: Pod\nmetadata: {name: y}\nspec:\n  containers: [{name: c, image: busybox}]\n"
        #expect(try c.request("POST", "/api/v1/namespaces/default/pods", yamlPod, contentType: "application/yaml").code == 201)
        #expect(try c.request("POST", "/api/v1/namespaces/default/pods", "metadata: {name: [", contentType: "application/yaml").code == 400)
        #expect(try c.request("POST", "/api/v1/namespaces/default/pods", "x", contentType: "text/plain+yaml").code == 415)

        let huge = #"{"metadata":{"name":"big","annotations":{"a":""# + String(repeating: "x", count: 3 * 1024 * 1024) + #""}}}"#
        #expect(try c.post("/api/v1/namespaces/default/configmaps", huge).code == 413)

        // Garbage on the socket: that connection fails, the server carries on.
        let raw = try RawSocket(port: m.port)
        raw.send(Array("\u{01}\u{02}NOT HTTP\r\n\r\n".utf8))
        #expect(String(decoding: raw.receive(), as: UTF8.self).hasPrefix("HTTP/1.1 400"))
        #expect(try c.get("/healthz").text == "ok")
        #expect(try c.post("/api/v1/namespaces/default/pods", pod("after")).code == 201)
    }

    @Test func generateNameListsSelectorsAndPaging() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        var names: Set<String> = []
        for i in 0..<12 {
            let body = #"{"metadata":{"generateName":"web-","labels":{"app":"web","i":"\#(i)"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#
            let r = try c.post("/api/v1/namespaces/default/pods", body)
            #expect(r.code == 201)
            let name = r.json.value(at: "metadata.name")?.stringValue ?? ""
            #expect(name.hasPrefix("web-") && name.count == 9)
            names.insert(name)
        }
        #expect(names.count == 12)
        _ = try c.post("/api/v1/namespaces/default/pods", pod("db", labels: #"{"app":"db"}"#))
        _ = try c.post("/api/v1/namespaces", #"{"metadata":{"name":"other"}}"#)
        _ = try c.post("/api/v1/namespaces/other/pods", pod("web"))

        #expect(try c.get("/api/v1/namespaces/default/pods").json["items"]?.arrayValue?.count == 13)
        #expect(try c.get("/api/v1/pods").json["items"]?.arrayValue?.count == 14)
        #expect(try c.get("/api/v1/pods?labelSelector=app%3Dweb").json["items"]?.arrayValue?.count == 13)
        #expect(try c.get("/api/v1/namespaces/default/pods?labelSelector=app%20in%20(db),!i").json["items"]?.arrayValue?.count == 1)
        #expect(try c.get("/api/v1/pods?fieldSelector=metadata.namespace%3Dother").json["items"]?.arrayValue?.count == 1)
        #expect(try c.get("/api/v1/pods?fieldSelector=spec.nodeName%3D").json["items"]?.arrayValue?.count == 14)
        #expect(try c.get("/api/v1/pods?fieldSelector=spec.bogus%3Dx").code == 400)
        #expect(try c.get("/api/v1/pods?labelSelector=a%20in%20").code == 400)

        // Pages of 5 at one snapshot, while writes go on.
        var seen: [String] = []
        var token = ""
        var listRV = ""
        repeat {
            let page = try c.get("/api/v1/namespaces/default/pods?limit=5&labelSelector=app%3Dweb" + (token.isEmpty ? "" : "&continue=\(token)"))
            #expect(page.code == 200)
            seen += page.json["items"]?.arrayValue?.compactMap { $0.value(at: "metadata.name")?.stringValue } ?? []
            token = page.json.value(at: "metadata.continue")?.stringValue ?? ""
            if listRV.isEmpty { listRV = page.json.value(at: "metadata.resourceVersion")?.stringValue ?? "" }
            else { #expect(page.json.value(at: "metadata.resourceVersion")?.stringValue == listRV) }
            _ = try c.post("/api/v1/namespaces/default/pods", pod(TestEnvName.next("late")))
        } while !token.isEmpty
        #expect(Set(seen) == names)
        #expect(seen.count == 12)
        #expect(try c.get("/api/v1/pods?limit=2&continue=garbage").code == 400)
    }

    @Test func watchStreamsEventsWithSelectorTransitions() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        _ = try c.post("/api/v1/namespaces/default/pods", pod("a"))
        let list = try c.get("/api/v1/namespaces/default/pods")
        let rv = list.json.value(at: "metadata.resourceVersion")?.stringValue ?? ""

        let all = try c.watch("/api/v1/namespaces/default/pods?watch=true&resourceVersion=\(rv)")
        let web = try c.watch("/api/v1/pods?watch=true&labelSelector=app%3Dweb")
        #expect(try web.next()?["type"] == "ADDED")    // current state first when no version is given

        _ = try c.post("/api/v1/namespaces/default/pods", pod("b"))
        _ = try c.patch("/api/v1/namespaces/default/pods/a", #"{"metadata":{"labels":{"app":"db"}}}"#)
        _ = try c.patch("/api/v1/namespaces/default/pods/a", #"{"metadata":{"labels":{"app":"web"}}}"#)
        _ = try c.delete("/api/v1/namespaces/default/pods/b")

        var types: [String] = []
        for _ in 0..<4 { types.append(try all.next()?["type"]?.stringValue ?? "") }
        #expect(types == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"])

        var webEvents: [(String, String)] = []
        for _ in 0..<4 {
            let e = try web.next()
            webEvents.append((e?["type"]?.stringValue ?? "", e?.value(at: "object.metadata.name")?.stringValue ?? ""))
        }
        #expect(webEvents.map(\.0) == ["ADDED", "DELETED", "ADDED", "DELETED"])
        #expect(webEvents.map(\.1) == ["b", "a", "a", "b"])

        // A single-object watch by name, as kubectl delete --wait uses.
        let one = try c.watch("/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Da&resourceVersion=\(rv)")
        let first = try one.next()
        #expect(first?["type"] == "MODIFIED")
        #expect(first?.value(at: "object.metadata.name") == "a")

        // A watch that times out ends cleanly.
        let short = try c.watch("/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1&resourceVersion=\(try c.get("/api/v1/pods").json.value(at: "metadata.resourceVersion")?.stringValue ?? "")")
        #expect(try short.next() == nil)
    }

    @Test func watchFromACompactedVersionIsGone() throws {
        let m = try MasterProcess(extraArgs: ["--compaction-interval", "300ms"])
        defer { m.stop() }
        let c = m.client
        for i in 0..<5 { _ = try c.post("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"c\#(i)"}}"#) }
        for i in 0..<5 { _ = try c.delete("/api/v1/namespaces/default/configmaps/c\(i)") }
        Thread.sleep(forTimeInterval: 1.2)
        _ = try c.post("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"after"}}"#)
        Thread.sleep(forTimeInterval: 0.8)
        let w = try c.watch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2")
        let e = try w.next()
        #expect(e?["type"] == "ERROR")
        #expect(e?.value(at: "object.code") == 410)
        #expect(e?.value(at: "object.reason") == "Expired")
        #expect(try c.get("/api/v1/namespaces/default/configmaps/after").code == 200)
    }

    @Test func gracefulPodDeletionAndFinalizers() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        _ = try c.post("/api/v1/namespaces/default/pods", pod("bound"))
        let bind = try c.post("/api/v1/namespaces/default/pods/bound/binding",
                              #"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"bound"},"target":{"apiVersion":"v1","kind":"Node","name":"node-1"}}"#)
        #expect(bind.code == 201)
        let boundPod = try c.get("/api/v1/namespaces/default/pods/bound").json
        #expect(boundPod.value(at: "spec.nodeName") == "node-1")
        #expect(boundPod.value(at: "status.conditions")?.arrayValue?.first?["type"] == "PodScheduled")
        #expect(try c.post("/api/v1/namespaces/default/pods/bound/binding", #"{"target":{"name":"node-2"}}"#).code == 409)
        #expect(try c.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1").json["items"]?.arrayValue?.count == 1)

        // A bound pod waits for its node: deletionTimestamp now, removal on the node's grace-0 delete.
        let first = try c.delete("/api/v1/namespaces/default/pods/bound")
        #expect(first.json.value(at: "metadata.deletionTimestamp") != nil)
        #expect(first.json.value(at: "metadata.deletionGracePeriodSeconds") == 30)
        #expect(try c.get("/api/v1/namespaces/default/pods/bound").code == 200)
        #expect(try c.get("/api/v1/namespaces/default/pods/bound", accept: "application/json;as=Table;v=v1;g=meta.k8s.io").json["rows"]?.arrayValue?.first?["cells"]?.arrayValue?[2] == "Terminating")
        _ = try c.delete("/api/v1/namespaces/default/pods/bound", #"{"gracePeriodSeconds":0}"#)
        #expect(try c.get("/api/v1/namespaces/default/pods/bound").code == 404)

        // Finalizers hold an object until the last one is removed.
        _ = try c.post("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"held","finalizers":["example.com/hold"]}}"#)
        let marked = try c.delete("/api/v1/namespaces/default/configmaps/held")
        #expect(marked.json.value(at: "metadata.deletionTimestamp") != nil)
        #expect(try c.get("/api/v1/namespaces/default/configmaps/held").code == 200)
        _ = try c.patch("/api/v1/namespaces/default/configmaps/held", #"{"metadata":{"finalizers":null}}"#)
        #expect(try c.get("/api/v1/namespaces/default/configmaps/held").code == 404)

        // Preconditions.
        _ = try c.post("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"pre"}}"#)
        #expect(try c.delete("/api/v1/namespaces/default/configmaps/pre", #"{"preconditions":{"uid":"nope"}}"#).code == 409)
    }

    @Test func namespaceDeletionRemovesItsContents() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        #expect(try c.post("/api/v1/namespaces", #"{"metadata":{"name":"team"}}"#).code == 201)
        _ = try c.post("/api/v1/namespaces/team/pods", pod("p"))
        _ = try c.post("/api/v1/namespaces/team/configmaps", #"{"metadata":{"name":"cm"}}"#)
        let deleting = try c.delete("/api/v1/namespaces/team")
        #expect(deleting.json.value(at: "status.phase") == "Terminating")
        #expect(try c.post("/api/v1/namespaces/team/configmaps", #"{"metadata":{"name":"late"}}"#).code == 403)
        var gone = false
        for _ in 0..<50 where !gone {
            gone = try c.get("/api/v1/namespaces/team").code == 404
            if !gone { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(gone)
        #expect(try c.get("/api/v1/namespaces/team/pods").json["items"]?.arrayValue?.isEmpty == true)
        #expect(try c.get("/api/v1/namespaces/default").code == 200)
    }

    @Test func statusAndScaleSubresources() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        let deploy = #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#
        let created = try c.post("/apis/apps/v1/namespaces/default/deployments", deploy)
        #expect(created.code == 201)
        #expect(created.json.value(at: "metadata.generation") == 1)

        let scale = try c.get("/apis/apps/v1/namespaces/default/deployments/web/scale")
        #expect(scale.json["kind"] == "Scale")
        #expect(scale.json["apiVersion"] == "autoscaling/v1")
        #expect(scale.json.value(at: "spec.replicas") == 2)
        #expect(scale.json.value(at: "status.selector") == "app=web")
        let scaled = try c.patch("/apis/apps/v1/namespaces/default/deployments/web/scale", #"{"spec":{"replicas":5}}"#)
        #expect(scaled.json.value(at: "spec.replicas") == 5)
        let after = try c.get("/apis/apps/v1/namespaces/default/deployments/web").json
        #expect(after.value(at: "spec.replicas") == 5)
        #expect(after.value(at: "metadata.generation") == 2)

        // Status writes change only status; main writes never change status.
        let status = try c.patch("/apis/apps/v1/namespaces/default/deployments/web/status",
                                 #"{"status":{"replicas":5,"readyReplicas":3},"spec":{"replicas":1}}"#)
        #expect(status.json.value(at: "status.readyReplicas") == 3)
        #expect(status.json.value(at: "spec.replicas") == 5)
        #expect(status.json.value(at: "metadata.generation") == 2)
        let main = try c.patch("/apis/apps/v1/namespaces/default/deployments/web", #"{"status":{"readyReplicas":0}}"#)
        #expect(main.json.value(at: "status.readyReplicas") == 3)
        let table = try c.get("/apis/apps/v1/namespaces/default/deployments", accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        #expect(table.json["kind"] == "Table")
        #expect(table.json["rows"]?.arrayValue?.first?["cells"]?.arrayValue?.prefix(2) == ["web", "3/5"])
        #expect(table.json["rows"]?.arrayValue?.first?.value(at: "object.kind") == "PartialObjectMetadata")
    }

    @Test func servicesGetClusterIPsAndNodePorts() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        let k = try c.get("/api/v1/namespaces/default/services/kubernetes").json
        #expect(k.value(at: "spec.clusterIP") == "10.96.0.1")
        var ips: Set<String> = []
        for i in 0..<5 {
            let s = try c.post("/api/v1/namespaces/default/services", #"{"metadata":{"name":"s\#(i)"},"spec":{"type":"NodePort","selector":{"app":"x"},"ports":[{"port":80}]}}"#)
            #expect(s.code == 201)
            ips.insert(s.json.value(at: "spec.clusterIP")?.stringValue ?? "")
            let np = s.json["spec"]?["ports"]?.arrayValue?.first?["nodePort"]?.intValue ?? 0
            #expect((30000...32767).contains(np))
        }
        #expect(ips.count == 5)
        #expect(!ips.contains("10.96.0.1"))
        let taken = try c.post("/api/v1/namespaces/default/services", #"{"metadata":{"name":"dup"},"spec":{"clusterIP":"10.96.0.1","ports":[{"port":80}]}}"#)
        #expect(taken.code == 422)
        #expect(try c.post("/api/v1/namespaces/default/services", #"{"metadata":{"name":"Bad"},"spec":{"ports":[{"port":80}]}}"#).code == 422)
    }

    /// Pod Security admission: a namespace labelled baseline refuses host access with Kubernetes' message.
    @Test func podSecurityAdmission() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        #expect(try c.post("/api/v1/namespaces", #"{"metadata":{"name":"locked","labels":{"pod-security.kubernetes.io/enforce":"baseline"}}}"#).code == 201)
        let bad = try c.post("/api/v1/namespaces/locked/pods", #"{"metadata":{"name":"escape"},"spec":{"volumes":[{"name":"root","hostPath":{"path":"/"}}],"containers":[{"name":"c","image":"busybox","securityContext":{"privileged":true}}]}}"#)
        #expect(bad.code == 403, "\(bad.text)")
        #expect(bad.json["message"] == #"pods "escape" is forbidden: violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true), hostPath volumes (volume "root")"#)
        #expect(try c.get("/api/v1/namespaces/locked/pods/escape").code == 404)
        #expect(try c.post("/api/v1/namespaces/locked/pods", #"{"metadata":{"name":"fine"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#).code == 201)
        // Unlabelled namespaces are privileged.
        #expect(try c.post("/api/v1/namespaces/default/pods", #"{"metadata":{"name":"escape"},"spec":{"hostNetwork":true,"containers":[{"name":"c","image":"busybox"}]}}"#).code == 201)
    }

    /// --encryption-key-file: a Secret's data never reaches the database in the clear; it reads back, also after a restart.
    @Test func secretsEncryptedAtRest() throws {
        let keyDir = try TestEnv.makeTempDir("skiff-key")
        defer { try? FileManager.default.removeItem(atPath: keyDir) }
        try Data(Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString().utf8).write(to: URL(fileURLWithPath: keyDir + "/key"))
        let m = try MasterProcess(extraArgs: ["--encryption-key-file", keyDir + "/key"])
        defer { m.stop() }
        // base64 of "correct horse battery staple": what a plaintext store would hold.
        let secret = #"{"metadata":{"name":"db"},"data":{"password":"Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ=="}}"#
        #expect(try m.client.post("/api/v1/namespaces/default/secrets", secret).code == 201)
        #expect(try m.client.post("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"c"},"data":{"k":"Y29ycmVjdCBob3JzZ"}}"#).code == 201)
        var raw = Data()
        for f in ["state.db", "state.db-wal"] { raw.append(FileManager.default.contents(atPath: m.dataDir + "/" + f) ?? Data()) }
        let text = String(decoding: raw, as: UTF8.self)
        #expect(!text.contains("Y29ycmVjdCBob3JzZSBiYXR0ZXJ5") && text.contains("k8s:enc:aesgcm:v1:key1:"))
        #expect(text.contains("Y29ycmVjdCBob3JzZ"))   // the ConfigMap stays plain
        try m.killAndRestart()
        #expect(try m.client.get("/api/v1/namespaces/default/secrets/db").json.value(at: "data.password") == "Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==")
        // A bad key file is refused at start with the file named.
        try Data("not base64!".utf8).write(to: URL(fileURLWithPath: keyDir + "/bad"))
        let bad = try TestEnv.capture([TestEnv.binDir + "/skiff", "master", "--listen", "127.0.0.1:0", "--data-dir", keyDir + "/d", "--encryption-key-file", keyDir + "/bad"])
        #expect(bad.status != 0 && bad.stderr.contains(keyDir + "/bad"), "\(bad.stderr)")
    }

    /// --audit-log-path: mutating requests, refused ones included, as audit.k8s.io/v1 Events; reads and bodies stay out.
    @Test func auditLogRecordsWrites() throws {
        let dir = try TestEnv.makeTempDir("skiff-audit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let m = try MasterProcess(extraArgs: ["--audit-log-path", dir + "/audit/audit.log"])
        defer { m.stop() }
        let c = m.client
        #expect(try c.post("/api/v1/namespaces/default/secrets", #"{"metadata":{"name":"s"},"stringData":{"password":"do-not-log-me"}}"#).code == 201)
        #expect(try c.post("/api/v1/namespaces/default/secrets", #"{"metadata":{"name":"s"}}"#).code == 409)
        #expect(try c.patch("/api/v1/namespaces/default/secrets/s", #"{"metadata":{"labels":{"a":"b"}}}"#).code == 200)
        #expect(try c.get("/api/v1/namespaces/default/secrets/s").code == 200)
        #expect(try c.delete("/api/v1/namespaces/default/secrets/s").code == 200)
        let text = try String(contentsOfFile: dir + "/audit/audit.log", encoding: .utf8)
        let events = text.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
            .filter { $0.value(at: "objectRef.resource") == "secrets" }
        #expect(events.map { $0["verb"]?.stringValue ?? "" } == ["create", "create", "patch", "delete"], "\(text)")
        #expect(events.map { $0.value(at: "responseStatus.code")?.intValue ?? 0 } == [201, 409, 200, 200])
        #expect(events.allSatisfy { $0["kind"] == "Event" && $0["apiVersion"] == "audit.k8s.io/v1" && $0["sourceIPs"] == ["127.0.0.1"] })
        #expect(events.last?.value(at: "objectRef.name") == "s" && events.last?.value(at: "objectRef.namespace") == "default")
        #expect(!text.contains("do-not-log-me"))
        let mode = (try FileManager.default.attributesOfItem(atPath: dir + "/audit/audit.log")[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600)
    }

    /// The allocator over updates, exhaustion and a restart, with small ranges from the flags.
    @Test func serviceAllocationAcrossUpdatesAndRestarts() throws {
        let m = try MasterProcess(extraArgs: ["--service-cidr", "10.100.0.0/29", "--service-node-port-range", "31000-31002"])
        defer { m.stop() }
        var c = m.client
        let svcs = "/api/v1/namespaces/default/services"
        func spec(_ s: HTTPResponse) -> (ip: String, port: Int64) {
            (s.json.value(at: "spec.clusterIP")?.stringValue ?? "", s.json["spec"]?["ports"]?.arrayValue?.first?["nodePort"]?.intValue ?? 0)
        }
        #expect(try c.get(svcs + "/kubernetes").json.value(at: "spec.clusterIP") == "10.100.0.1")
        let a = try c.post(svcs, #"{"metadata":{"name":"a"},"spec":{"type":"NodePort","ports":[{"port":80}]}}"#)
        #expect(a.code == 201 && (31000...31002).contains(spec(a).port))
        // A requested port outside the range, or an address outside the CIDR: refused, saying which range.
        let outside = try c.post(svcs, #"{"metadata":{"name":"x"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}}"#)
        #expect(outside.code == 422 && outside.text.contains("spec.ports[0].nodePort") && outside.text.contains("31000-31002"), "\(outside.text)")
        let farIP = try c.post(svcs, #"{"metadata":{"name":"x"},"spec":{"clusterIP":"10.96.0.50","ports":[{"port":80}]}}"#)
        #expect(farIP.code == 422 && farIP.text.contains("10.100.0.0/29"), "\(farIP.text)")
        // ClusterIP → NodePort by patch: a port is allocated (not a's).
        #expect(try c.post(svcs, #"{"metadata":{"name":"b"},"spec":{"ports":[{"port":80}]}}"#).code == 201)
        let b = try c.patch(svcs + "/b", #"{"spec":{"type":"NodePort"}}"#)
        #expect(b.code == 200 && (31000...31002).contains(spec(b).port) && spec(b).port != spec(a).port, "\(b.text)")
        // A replace that leaves out the allocated fields (kubectl replace of a manifest) keeps them.
        let replaced = try c.put(svcs + "/a", #"{"metadata":{"name":"a"},"spec":{"type":"NodePort","ports":[{"port":80}]}}"#)
        #expect(replaced.code == 200 && spec(replaced) == spec(a), "\(replaced.text)")
        // Taking b's port is refused.
        let steal = try c.patch(svcs + "/a", #"{"spec":{"ports":[{"port":80,"nodePort":\#(spec(b).port)}]}}"#)
        #expect(steal.code == 422 && steal.text.contains("provided port is already allocated"), "\(steal.text)")
        // The last port, then a full range: a clear error, and nothing stored or held.
        #expect(try c.post(svcs, #"{"metadata":{"name":"c"},"spec":{"type":"NodePort","ports":[{"port":80}]}}"#).code == 201)
        let full = try c.post(svcs, #"{"metadata":{"name":"d"},"spec":{"type":"NodePort","ports":[{"port":80}]}}"#)
        #expect(full.code == 500 && full.text.contains("range 31000-31002 is full"), "\(full.text)")
        #expect(try c.get(svcs + "/d").code == 404)
        // NodePort → ClusterIP gives b's port back; d takes it.
        let back = try c.patch(svcs + "/b", #"{"spec":{"type":"ClusterIP"}}"#)
        #expect(back.code == 200 && spec(back).port == 0, "\(back.text)")
        let d = try c.post(svcs, #"{"metadata":{"name":"d"},"spec":{"type":"NodePort","ports":[{"port":80}]}}"#)
        #expect(d.code == 201 && spec(d).port == spec(b).port)

        // After a kill -9 and restart the used sets come back from the store: no duplicates.
        try m.killAndRestart()
        c = m.client
        #expect(try c.post(svcs, #"{"metadata":{"name":"e"},"spec":{"type":"NodePort","ports":[{"port":80}]}}"#).code == 500)
        var ips = Set(try ["kubernetes", "a", "b", "c", "d"].map { try c.get(svcs + "/" + $0).json.value(at: "spec.clusterIP")?.stringValue ?? "" })
        #expect(ips.count == 5)
        let f = try c.post(svcs, #"{"metadata":{"name":"f"},"spec":{"ports":[{"port":80}]}}"#)
        #expect(f.code == 201 && !ips.contains(spec(f).ip), "\(f.text)")
        ips.insert(spec(f).ip)
        let none = try c.post(svcs, #"{"metadata":{"name":"g"},"spec":{"ports":[{"port":80}]}}"#)
        #expect(none.code == 500 && none.text.contains("range is full"), "\(none.text)")   // .2-.6 and .1: six addresses
        // Deleting gives both back.
        #expect(try c.delete(svcs + "/a").code == 200)
        let g = try c.post(svcs, #"{"metadata":{"name":"g"},"spec":{"type":"NodePort","ports":[{"port":80}]}}"#)
        #expect(g.code == 201 && spec(g).ip == spec(a).ip && spec(g).port == spec(a).port, "\(g.text)")
    }

    @Test func discoveryOpenAPIAndMetrics() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        #expect(try c.get("/api").json["versions"] == ["v1"])
        let groups = try c.get("/apis").json["groups"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(groups.contains("apps"))
        #expect(groups.contains("coordination.k8s.io"))
        let core = try c.get("/api/v1").json["resources"]?.arrayValue ?? []
        let pods = core.first { $0["name"] == "pods" }
        #expect(pods?["namespaced"] == true)
        #expect(pods?["shortNames"] == ["po"])
        #expect(core.contains { $0["name"] == "pods/binding" })
        #expect(try c.get("/version").json["major"] == "1")
        let v3 = try c.get("/openapi/v3").json
        let url = v3.value(at: "paths")?["apis/apps/v1"]?["serverRelativeURL"]?.stringValue ?? ""
        #expect(url.hasPrefix("/openapi/v3/apis/apps/v1"))
        let doc = try c.get(url).json
        let patchOp = doc["paths"]?["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]?["patch"]
        #expect(patchOp?["x-kubernetes-group-version-kind"]?["kind"] == "Deployment")
        #expect(patchOp?["parameters"]?.arrayValue?.first?["name"] == "fieldValidation")
        // In-process clients (the cluster DNS's watch) list too: count this request as one more.
        // (kube-apiserver's labels: a namespace's list is scope "namespace", the cluster's "cluster".)
        let series = ["verb": "LIST", "group": "", "version": "v1", "resource": "pods", "subresource": "", "scope": "namespace",
                      "component": "apiserver", "dry_run": "", "code": "200"]
        func podLists(_ text: String) -> Double { PrometheusText(text).value("apiserver_request_total", series) ?? 0 }
        let before = podLists(try c.get("/metrics").text)
        _ = try c.get("/api/v1/namespaces/default/pods")
        let metrics = try c.get("/metrics").text
        #expect(podLists(metrics) == before + 1, "\(metrics)")
        let text = PrometheusText(metrics)
        #expect((text.value("process_resident_memory_bytes") ?? 0) > 0)
        #expect(text.series("apiserver_request_duration_seconds_bucket", ["verb": "LIST", "resource": "pods", "scope": "namespace", "le": "0.005"]).count == 1)
        // The store's latency, by operation and resource type.
        #expect(text.sum("etcd_requests_total", ["operation": "list", "type": "pods"]) >= 1, "\(metrics)")
        #expect(text.types["etcd_request_duration_seconds"] == "histogram")
        // Open watches: the in-process clients (the cluster DNS) watch services.
        #expect(text.sum("apiserver_longrunning_requests", ["verb": "WATCH", "resource": "services"]) >= 1, "\(metrics)")
        #expect((text.value("skiff_store_revision") ?? 0) > 0)
    }

    @Test func acknowledgedWritesSurviveKillDashNine() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        var acknowledged: [String: String] = [:]
        for i in 0..<30 {
            let r = try m.client.post("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"keep-\#(i)"},"data":{"k":"v\#(i)"}}"#)
            #expect(r.code == 201)
            acknowledged["keep-\(i)"] = r.json.value(at: "metadata.resourceVersion")?.stringValue
        }
        try m.killAndRestart()
        let items = try m.client.get("/api/v1/namespaces/default/configmaps").json["items"]?.arrayValue ?? []
        var found: [String: String] = [:]
        for item in items { found[item.value(at: "metadata.name")?.stringValue ?? ""] = item.value(at: "metadata.resourceVersion")?.stringValue }
        #expect(found == acknowledged)
        // Revisions keep counting up after the restart.
        let next = try m.client.post("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"next"}}"#)
        let maxRV = acknowledged.values.compactMap { Int($0) }.max() ?? 0
        #expect((Int(next.json.value(at: "metadata.resourceVersion")?.stringValue ?? "") ?? 0) > maxRV)
    }
}

enum TestEnvName {
    nonisolated(unsafe) static var counter = 0
    static func next(_ prefix: String) -> String { counter += 1; return "\(prefix)-\(counter)" }
}
