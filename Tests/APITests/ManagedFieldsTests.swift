import API
import Testing

@Suite struct ManagedFieldsTests {
    func writer(_ manager: String, kind: String = "Deployment", apiVersion: String = "apps/v1", subresource: String? = nil,
                now: String = "2026-12-07T10:00:00Z") -> FieldWriter {
        FieldWriter(manager: manager, apiVersion: apiVersion, subresource: subresource, kindHasStatus: true,
                    types: .builtIn(kind: kind), now: now)
    }

    func json(_ text: String) -> JSONValue { try! JSONValue.parse(text) }

    func entries(_ obj: JSONValue) -> [ManagedFieldsEntry] { ManagedFieldsEntry.entries(of: obj) ?? [] }

    let deployment = #"""
    {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},
     "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
             "template":{"metadata":{"labels":{"app":"web"}},
                         "spec":{"containers":[{"name":"nginx","image":"nginx:1","ports":[{"containerPort":80}]}]}}}}
    """#

    @Test func fieldsV1RoundTripsAndSpellsPathsAsKubernetes() throws {
        let set = try StructuredValue.fieldSet(json(deployment), types: .builtIn(kind: "Deployment"), strict: true)
        let v1 = set.fieldsV1
        #expect(FieldSet(fieldsV1: v1) == set)
        let containers = v1["f:spec"]?["f:template"]?["f:spec"]?["f:containers"]
        let nginx = containers?[#"k:{"name":"nginx"}"#]
        #expect(nginx?["."] == .object(JSONObject()))
        #expect(nginx?["f:ports"]?[#"k:{"containerPort":80,"protocol":"TCP"}"#]?["f:containerPort"] == .object(JSONObject()))
        #expect(v1["f:spec"]?["f:selector"] == .object(JSONObject()))   // a LabelSelector is owned whole
        let paths = set.paths.map(ManagedPath.describe)
        #expect(paths.contains(#".spec.template.spec.containers[name="nginx"].image"#))
        #expect(paths.contains(#".spec.template.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"]"#))
        #expect(FieldSet(fieldsV1: ["x:bad": .object(JSONObject())]) == nil)
    }

    @Test func applyRefusesItemsWithoutKeysAndDuplicates() {
        let noName = json(#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"image":"x"}]}}"#)
        #expect(throws: FieldSetError.self) { try StructuredValue.fieldSet(noName, types: .builtIn(kind: "Pod"), strict: true) }
        let twice = json(#"{"spec":{"containers":[{"name":"a"},{"name":"a"}]}}"#)
        do {
            _ = try StructuredValue.fieldSet(twice, types: .builtIn(kind: "Pod"), strict: true)
            Issue.record("a duplicate key was accepted")
        } catch {
            #expect(error.message == #"duplicate entries for key [name="a"]"#)
        }
    }

    @Test func createOwnsEverythingButServerMetadata() {
        let created = FieldManager.update(old: nil, new: json(deployment), entries: [], writer: writer("kubectl-create"))
        let e = entries(created)
        #expect(e.count == 1)
        #expect(e.first?.manager == "kubectl-create" && e.first?.operation == .update && e.first?.time == "2026-12-07T10:00:00Z")
        #expect(e.first?.fields["f:metadata"]["f:name"].isEmpty == true)
        #expect(e.first?.fields["f:spec"]["f:replicas"].isMember == true)
        #expect(e.first?.fields["f:apiVersion"].isEmpty == true)
    }

    @Test func anUpdateTakesTheFieldsItChanges() {
        let created = FieldManager.update(old: nil, new: json(deployment), entries: [], writer: writer("kubectl-create"))
        var scaled = created
        scaled["spec"]?["replicas"] = 5
        let after = FieldManager.update(old: created, new: scaled, entries: entries(created), writer: writer("kubectl-scale", subresource: "scale"))
        let e = entries(after)
        #expect(e.count == 2)
        let scaler = e.first { $0.manager == "kubectl-scale" }
        #expect(scaler?.subresource == "scale")
        #expect(scaler?.fields.paths.map(ManagedPath.describe) == [".spec.replicas"])
        #expect(e.first { $0.manager == "kubectl-create" }?.fields["f:spec"]["f:replicas"].isEmpty == true)
        // Nothing changed: the entries stay as they were.
        #expect(FieldManager.update(old: after, new: after, entries: e, writer: writer("other")) == after)
    }

    @Test func applyConflictsWithAnotherManagersValueUnlessForced() throws {
        let created = FieldManager.update(old: nil, new: json(deployment), entries: [], writer: writer("kubectl-create"))
        let config = json(#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":4}}"#)
        do {
            _ = try FieldManager.apply(live: created, config: config, writer: writer("ci"), force: false)
            Issue.record("no conflict")
        } catch let e as ApplyConflicts {
            #expect(e.message == #"Apply failed with 1 conflict: conflict with "kubectl-create" using apps/v1: .spec.replicas"#)
            #expect(e.causes.first?.field == ".spec.replicas" && e.causes.first?.reason == "FieldManagerConflict")
        }
        // The same value is shared ownership, not a conflict.
        let same = json(#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3}}"#)
        let shared = try FieldManager.apply(live: created, config: same, writer: writer("ci"), force: false)
        #expect(entries(shared).count == 2)
        #expect(entries(shared).allSatisfy { $0.fields["f:spec"]["f:replicas"].isMember })
        // Forced: the value changes and the other manager loses the field.
        let forced = try FieldManager.apply(live: created, config: config, writer: writer("ci"), force: true)
        #expect(forced["spec"]?["replicas"] == 4)
        #expect(entries(forced).first?.operation == .apply)   // appliers sort first
        #expect(entries(forced).first { $0.manager == "kubectl-create" }?.fields["f:spec"]["f:replicas"].isEmpty == true)
    }

    @Test func applyRemovesFieldsItNoLongerAppliesUnlessSomeoneElseHoldsThem() throws {
        let first = json(#"""
        {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"a":"1","b":"2"}},"data":{"x":"1","y":"2"}}
        """#)
        let w = writer("me", kind: "ConfigMap", apiVersion: "v1")
        let applied = try FieldManager.apply(live: nil, config: first, writer: w, force: false)
        #expect(entries(applied).count == 1)
        // Someone else takes label b.
        var labelled = applied
        labelled["metadata"]?["labels"]?["b"] = "3"
        let updated = FieldManager.update(old: applied, new: labelled, entries: entries(applied), writer: writer("ops", kind: "ConfigMap", apiVersion: "v1"))
        let second = json(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"a":"1"}},"data":{"x":"1"}}"#)
        let out = try FieldManager.apply(live: updated, config: second, writer: w, force: false)
        #expect(out["data"] == ["x": "1"])                                // y was mine alone: gone
        #expect(out["metadata"]?["labels"]?.stringMap == ["a": "1", "b": "3"])   // b is held by ops
    }

    @Test func applyMergesListsByTheirKeys() throws {
        let w = writer("me", kind: "Deployment")
        let live = try FieldManager.apply(live: nil, config: json(deployment), writer: w, force: false)
        let sidecar = json(#"""
        {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
         "spec":{"template":{"spec":{"containers":[{"name":"log","image":"busybox"}]}}}}
        """#)
        let other = try FieldManager.apply(live: live, config: sidecar, writer: writer("sidecar-injector"), force: false)
        let names = other.value(at: "spec.template.spec.containers")?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names == ["nginx", "log"])
        // The first applier drops its container: the injector's stays.
        let without = json(#"""
        {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
         "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[]}}}}
        """#)
        let pruned = try FieldManager.apply(live: other, config: without, writer: w, force: false)
        #expect(pruned.value(at: "spec.template.spec.containers")?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["log"])
    }

    @Test func clientSideApplyMigrationAndTheLastAppliedAnnotation() throws {
        // Made by `kubectl apply` (client-side): the annotation holds what was applied.
        var live = json(deployment)
        live["metadata"]?["annotations"] = ["kubectl.kubernetes.io/last-applied-configuration": .string(json(deployment).jsonString)]
        live = FieldManager.update(old: nil, new: live, entries: [], writer: writer("kubectl-client-side-apply"))
        live["spec"]?["replicas"] = 3
        var config = json(deployment)
        config["spec"]?["replicas"] = 6
        // kubectl's own server-side apply may take fields it applied client-side before.
        let migrated = try FieldManager.apply(live: live, config: config, writer: writer("kubectl"), force: false)
        #expect(migrated["spec"]?["replicas"] == 6)
        let annotation = migrated["metadata"]?["annotations"]?["kubectl.kubernetes.io/last-applied-configuration"]?.stringValue ?? ""
        #expect(try JSONValue.parse(annotation)["spec"]?["replicas"] == 6)
        // Another manager may not.
        #expect(throws: ApplyConflicts.self) { try FieldManager.apply(live: live, config: config, writer: writer("argo"), force: false) }
    }

    @Test func statusWritersOwnOnlyStatus() {
        let old = json(#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1}}"#)
        var new = old
        new["status"] = ["replicas": 1]
        new["spec"]?["replicas"] = 9   // not this writer's to own
        let out = FieldManager.update(old: old, new: new, entries: [], writer: writer("kube-controller-manager", subresource: "status"))
        #expect(entries(out).first?.fields.paths.map(ManagedPath.describe) == [".status.replicas"])
    }

    @Test func updatersBeyondTenFoldIntoAncientChanges() {
        var obj = json(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{}}"#)
        for i in 0..<12 {
            var next = obj
            next["data"]?["k\(i)"] = "v"
            obj = FieldManager.update(old: obj, new: next, entries: entries(obj),
                                      writer: writer("client-\(i)", kind: "ConfigMap", apiVersion: "v1", now: "2026-12-07T10:00:\(10 + i)Z"))
        }
        let e = entries(obj)
        #expect(e.count == 10)
        let ancient = e.first { $0.manager == "ancient-changes" }
        #expect(ancient?.fields.paths.map(ManagedPath.describe).sorted() == [".data.k0", ".data.k1", ".data.k2"])
        #expect(e.contains { $0.manager == "client-11" } && !e.contains { $0.manager == "client-2" })
    }
}
