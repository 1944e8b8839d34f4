// Server-side apply on a real master: the wire form (apply-patch+yaml, fieldManager, force,
// 409 with causes, 201 on create), managedFields on ordinary writes, and kubectl's
// apply --server-side, --force-conflicts, diff --server-side and the client-side migration.
import API
import Foundation
import Testing
import TestSupport

@Suite struct ServerSideApplyTests {
    let applyType = "application/apply-patch+yaml"

    func managers(_ obj: JSONValue) -> [String] {
        (obj["metadata"]?["managedFields"]?.arrayValue ?? []).compactMap { e in
            guard let m = e["manager"]?.stringValue, let op = e["operation"]?.stringValue else { return nil }
            return m + "/" + op + (e["subresource"]?.stringValue.map { "/" + $0 } ?? "")
        }
    }

    @Test func applyOverTheWire() throws {
        let master = try MasterProcess()
        defer { master.stop() }
        let c = master.client
        let path = "/api/v1/namespaces/default/configmaps/settings"
        let config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n  size: \"3\"\n"

        // No fieldManager: 422 as kube-apiserver words it.
        let anonymous = try c.patch(path, config, type: applyType)
        #expect(anonymous.code == 422)
        #expect(anonymous.json["message"]?.stringValue == #"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#)
        #expect(try c.patch(path + "?fieldManager=a", "a: [unclosed", type: applyType).code == 400)
        #expect(try c.patch(path + "?fieldManager=a", config.replacingOccurrences(of: "ConfigMap", with: "Secret"), type: applyType).code == 400)
        #expect(try c.patch(path + "?fieldManager=a&force=true", #"{"data":{"x":"1"}}"#).code == 422)

        // Apply creates (201), then a second manager conflicts on a value it changes.
        let created = try c.patch(path + "?fieldManager=team-a", config, type: applyType)
        #expect(created.code == 201)
        #expect(managers(created.json) == ["team-a/Apply"])
        let clash = try c.patch(path + "?fieldManager=team-b", config.replacingOccurrences(of: "fast", with: "slow"), type: applyType)
        #expect(clash.code == 409)
        #expect(clash.json["reason"]?.stringValue == "Conflict")
        #expect(clash.json["message"]?.stringValue == #"Apply failed with 1 conflict: conflict with "team-a": .data.mode"#)
        #expect(clash.json["details"]?["causes"]?.arrayValue?.first?["field"]?.stringValue == ".data.mode")
        #expect(clash.json["details"]?["causes"]?.arrayValue?.first?["reason"]?.stringValue == "FieldManagerConflict")

        // Dry run of a forced apply changes nothing; the forced apply moves the field.
        let dry = try c.patch(path + "?fieldManager=team-b&force=true&dryRun=All", config.replacingOccurrences(of: "fast", with: "slow"), type: applyType)
        #expect(dry.code == 200 && dry.json["data"]?["mode"] == "slow")
        #expect(try c.get(path).json["data"]?["mode"] == "fast")
        let forced = try c.patch(path + "?fieldManager=team-b&force=true", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: slow}\n",
                                 type: applyType)
        #expect(forced.code == 200)
        #expect(forced.json["data"] == ["mode": "slow", "size": "3"])

        // team-a stops applying size (it alone held it): gone. It still applies mode, now shared-free: team-b's.
        let shrunk = try c.patch(path + "?fieldManager=team-a", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {}\n", type: applyType)
        #expect(shrunk.json["data"] == ["mode": "slow"])

        // Ordinary writes are recorded too: the updater takes the field from the appliers.
        let merged = try c.request("PATCH", path + "?fieldManager=ops", #"{"data":{"mode":"normal"}}"#, contentType: "application/merge-patch+json")
        #expect(managers(merged.json).contains("ops/Update"))
        #expect(!managers(merged.json).contains("team-b/Apply"))
        // A client resets managedFields with [{}]; an empty list keeps them.
        let kept = try c.patch(path, #"{"metadata":{"managedFields":[]},"data":{"k":"v"}}"#)
        #expect(managers(kept.json).contains("ops/Update"))
        let reset = try c.patch(path, #"{"metadata":{"managedFields":[{}]}}"#)
        #expect(reset.json["metadata"]?["managedFields"] == nil)
    }

    @Test func createAndStatusWritesAreRecorded() throws {
        let master = try MasterProcess()
        defer { master.stop() }
        let c = master.client
        let rs = #"""
        {"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"r"},"spec":{"replicas":1,"selector":{"matchLabels":{"a":"b"}},
         "template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}
        """#
        let created = try c.post("/apis/apps/v1/namespaces/default/replicasets?fieldManager=maker", rs)
        #expect(created.code == 201)
        #expect(managers(created.json) == ["maker/Update"])
        let status = try c.request("PATCH", "/apis/apps/v1/namespaces/default/replicasets/r/status?fieldManager=rs-controller",
                                   #"{"status":{"replicas":1}}"#, contentType: "application/merge-patch+json")
        #expect(managers(status.json).contains("rs-controller/Update/status"))
        let entry = status.json["metadata"]?["managedFields"]?.arrayValue?.first { $0["manager"] == "rs-controller" }
        #expect(entry?["fieldsV1"] == ["f:status": ["f:replicas": .object(JSONObject())]])
    }

    @Test(arguments: ["1.33", "1.27"])
    func kubectlServerSideApply(version: String) throws {
        let master = try MasterProcess()
        defer { master.stop() }
        let k = try Kubectl(version: version, master: master)
        let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: nginx, image: "nginx:1", ports: [{containerPort: 80}]}]
        """
        #expect(try k.ok("apply", "--server-side", "-f", "-", stdin: deployment).contains("serverside-applied"))
        #expect(try k.ok("get", "deploy", "web", "-o", "jsonpath={.metadata.managedFields[0].manager}") == "kubectl")
        // Someone else's value for replicas: refused, then forced.
        let other = deployment.replacingOccurrences(of: "replicas: 2", with: "replicas: 5")
        let refused = try k.runArgs(["apply", "--server-side", "--field-manager=autoscaler", "-f", "-"], stdin: other)
        #expect(refused.status != 0)
        #expect(refused.err.contains(#"conflict with "kubectl": .spec.replicas"#))
        _ = try k.ok("apply", "--server-side", "--field-manager=autoscaler", "--force-conflicts", "-f", "-", stdin: other)
        #expect(try k.ok("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "5")
        // diff --server-side shows what an apply would change, without changing it.
        let diff = try k.runArgs(["diff", "--server-side", "--force-conflicts", "-f", "-"],
                                 stdin: deployment.replacingOccurrences(of: "nginx:1", with: "nginx:2"))
        #expect(diff.status == 1)
        #expect(diff.out.split(separator: "\n").contains { $0.hasPrefix("+") && $0.hasSuffix("image: nginx:2") })
        #expect(try k.ok("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}") == "nginx:1")

        // Client-side apply first, then server-side with a changed value: kubectl takes its own fields over.
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: migrate}\ndata: {level: \"1\"}\n"
        _ = try k.ok("apply", "-f", "-", stdin: cm)
        _ = try k.ok("apply", "--server-side", "-f", "-", stdin: cm.replacingOccurrences(of: "\"1\"", with: "\"2\""))
        #expect(try k.ok("get", "cm", "migrate", "-o", "jsonpath={.data.level}") == "2")
        let lastApplied = try k.ok("get", "cm", "migrate", "-o", #"jsonpath={.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}"#)
        #expect(lastApplied.contains(#""level":"2""#))
    }

    @Test func applyToACustomResourceMergesByItsSchemasListTypes() throws {
        let master = try MasterProcess()
        defer { master.stop() }
        let c = master.client
        let schema = #"""
        {"type":"object","properties":{"spec":{"type":"object","properties":{
          "owners":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],
                    "items":{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"role":{"type":"string"}}}},
          "tags":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}},
          "steps":{"type":"array","items":{"type":"string"}}}}}}
        """#
        #expect(try c.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                           definitionJSON(plural: "teams", group: "ssa.example.com", kind: "Team", schema: schema)).code == 201)
        let path = "/apis/ssa.example.com/v1/namespaces/default/teams/core"
        func apply(_ manager: String, _ spec: String) throws -> HTTPResponse {
            try c.patch(path + "?fieldManager=\(manager)", #"{"apiVersion":"ssa.example.com/v1","kind":"Team","metadata":{"name":"core"},"spec":"# + spec + "}",
                        type: applyType)
        }
        var created = try apply("alice", #"{"owners":[{"name":"alice","role":"lead"}],"tags":["a"],"steps":["build"]}"#)
        for _ in 0..<50 where created.code == 404 {   // the new kind is served once the definition is read back
            usleep(100_000)
            created = try apply("alice", #"{"owners":[{"name":"alice","role":"lead"}],"tags":["a"],"steps":["build"]}"#)
        }
        #expect(created.code == 201, "\(created.text)")
        let both = try apply("bob", #"{"owners":[{"name":"bob"}],"tags":["b"],"steps":["test"]}"#)
        #expect(both.code == 409)   // steps is atomic (no list type): bob would replace alice's list
        let merged = try apply("bob", #"{"owners":[{"name":"bob"}],"tags":["b"]}"#)
        #expect(merged.code == 200, "\(merged.text)")
        #expect(merged.json["spec"]?["owners"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["alice", "bob"])
        #expect(merged.json["spec"]?["tags"] == ["a", "b"])
        #expect(merged.json["spec"]?["steps"] == ["build"])
    }

    @Test func controllersWriteAsKubeControllerManager() throws {
        let master = try MasterProcess(controllers: true)
        defer { master.stop() }
        let c = master.client
        let deployment = #"""
        {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":1,"selector":{"matchLabels":{"a":"b"}},
         "template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}
        """#
        #expect(try c.post("/apis/apps/v1/namespaces/default/deployments?fieldManager=me", deployment).code == 201)
        var sets: [JSONValue] = []
        for _ in 0..<100 where sets.isEmpty {
            sets = try c.get("/apis/apps/v1/namespaces/default/replicasets").json["items"]?.arrayValue ?? []
            if sets.isEmpty { usleep(100_000) }
        }
        // (The controller may also have written the ReplicaSet's status by now: Update/status.)
        let writers = sets.first.map(managers) ?? []
        #expect(writers.contains("kube-controller-manager/Update"))
        #expect(writers.allSatisfy { $0.hasPrefix("kube-controller-manager/") }, "\(writers)")
    }
}
