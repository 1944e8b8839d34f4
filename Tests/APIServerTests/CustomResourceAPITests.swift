// CustomResourceDefinitions over HTTP against a real master: bad definitions refused with the
// reason, cluster-scoped resources, the status subresource, discovery and OpenAPI documents,
// watches with bookmarks, and a deleted definition taking its objects with it.
import API
import Foundation
import Testing
import TestSupport

/// A definition as JSON (`schema` is the version's openAPIV3Schema).
func definitionJSON(plural: String, group: String, kind: String, scope: String = "Namespaced", schema: String,
                    name: String? = nil, extraSpec: String = "", subresources: String = "{}") -> String {
    """
    {"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"\(name ?? "\(plural).\(group)")"},
     "spec":{"group":"\(group)","scope":"\(scope)","names":{"plural":"\(plural)","singular":"\(plural.dropLast())","kind":"\(kind)"},
     "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":\(schema)},"subresources":\(subresources)}]\(extraSpec)}}
    """
}

let widgetSchema = #"""
{"type":"object","properties":{"spec":{"type":"object","required":["size"],"properties":{
  "size":{"type":"string","enum":["small","large"]},
  "count":{"type":"integer","default":3},
  "port":{"x-kubernetes-int-or-string":true},
  "tags":{"type":"array","maxItems":2,"items":{"type":"string","minLength":2}},
  "note":{"type":"string","nullable":true,"maxLength":5},
  "labels":{"type":"object","additionalProperties":{"type":"string"}},
  "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}},
 "status":{"type":"object","properties":{"phase":{"type":"string"}}}}}
"""#

@Suite(.serialized) struct CustomResourceAPITests {
    @Test func badDefinitionsAreRefusedWithTheReason() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        func refusal(_ body: String) throws -> String {
            let r = try c.post(path, body)
            #expect(r.code == 422, "\(r.text)")
            return r.text
        }
        #expect(try refusal(definitionJSON(plural: "things", group: "a.example.com", kind: "Thing", schema: #"{"type":"object"}"#, name: "wrong.a.example.com"))
            .contains(#"metadata.name: Invalid value: \"wrong.a.example.com\": must be spec.names.plural+\".\"+spec.group"#))
        #expect(try refusal(definitionJSON(plural: "things", group: "apps", kind: "Thing", schema: #"{"type":"object"}"#)).contains("spec.group"))
        #expect(try refusal(definitionJSON(plural: "things", group: "storage.k8s.io", kind: "Thing", schema: #"{"type":"object"}"#))
            .contains("built-in resources"))
        #expect(try refusal(definitionJSON(plural: "things", group: "a.example.com", kind: "Thing",
                                           schema: #"{"type":"object","properties":{"spec":{"properties":{"x":{"type":"string"}}}}}"#))
            .contains("spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value"))
        #expect(try refusal(definitionJSON(plural: "things", group: "a.example.com", kind: "Thing",
                                           schema: #"{"type":"object","x-kubernetes-validations":[{"rule":"self.x > 0"}]}"#))
            .contains("not supported yet"))
        #expect(try refusal(definitionJSON(plural: "things", group: "a.example.com", kind: "Thing", schema: #"{"type":"object"}"#,
                                           extraSpec: #","conversion":{"strategy":"Webhook"}"#))
            .contains(#"spec.conversion.strategy: Unsupported value: \"Webhook\""#))
        // The server is still up and serves a good one.
        #expect(try c.post(path, definitionJSON(plural: "things", group: "a.example.com", kind: "Thing", schema: #"{"type":"object"}"#)).code == 201)
        let rescoped = try c.patch(path + "/things.a.example.com", #"{"spec":{"scope":"Cluster"}}"#)
        #expect(rescoped.code == 422)
        #expect(rescoped.text.contains(#"spec.scope: Invalid value: \"Cluster\": field is immutable"#))
        #expect(try c.delete(path + "/things.a.example.com").code == 200)
    }

    @Test func schemaValidationDefaultingPruningAndStatus() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        let group = "w\(Int.random(in: 1000...9999)).example.com"
        let crd = definitionJSON(plural: "widgets", group: group, kind: "Widget", scope: "Cluster", schema: widgetSchema,
                                 subresources: #"{"status":{}}"#)
        #expect(try c.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).code == 201)
        let base = "/apis/\(group)/v1/widgets"
        // Discovery and OpenAPI list the new resource.
        let discovery = try c.get("/apis/\(group)/v1").json
        #expect(discovery.value(at: "resources")?.arrayValue?.contains { $0["name"]?.stringValue == "widgets" && $0["namespaced"]?.boolValue == false } == true)
        #expect(try c.get("/apis").text.contains(group))
        // Aggregated discovery (what kubectl ≥ 1.26 asks for first), v2 and v2beta1.
        for version in ["v2", "v2beta1"] {
            let aggregated = try c.get("/apis", accept: "application/json;g=apidiscovery.k8s.io;v=\(version);as=APIGroupDiscoveryList,application/json")
            #expect(aggregated.headers.first { $0.key.lowercased() == "content-type" }?.value.contains("v=\(version);as=APIGroupDiscoveryList") == true)
            let item = aggregated.json["items"]?.arrayValue?.first { $0.value(at: "metadata.name")?.stringValue == group }
            let resource = item?["versions"]?.arrayValue?.first?["resources"]?.arrayValue?.first
            #expect(resource?["resource"] == "widgets")
            #expect(resource?["scope"] == "Cluster")
            #expect(resource?["subresources"]?.arrayValue?.first?["subresource"] == "status")
        }
        #expect(try c.get("/api", accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList").json["items"]?.arrayValue?.first?["versions"]?.arrayValue?.first?["version"] == "v1")
        #expect(try c.get("/openapi/v3/apis/\(group)/v1").text.contains("x-kubernetes-int-or-string"))

        let invalid = try c.post(base, #"{"apiVersion":"\#(group)/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"size":"huge","port":1.5,"tags":["a","bb","cc"],"note":"toolong"}}"#)
        #expect(invalid.code == 422)
        #expect(invalid.text.contains(#"spec.size: Unsupported value: \"huge\": supported values: \"small\", \"large\""#))
        #expect(invalid.text.contains("spec.port"))
        #expect(invalid.text.contains("spec.tags: Too many: 3: must have at most 2 items"))
        #expect(invalid.text.contains(#"spec.tags[0]: Invalid value: \"a\": spec.tags[0] in body should be at least 2 chars long"#))
        #expect(invalid.text.contains("spec.note: Too long"))
        let missing = try c.post(base, #"{"apiVersion":"\#(group)/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{}}"#)
        #expect(missing.text.contains("spec.size: Required value"))

        let created = try c.post(base, #"{"apiVersion":"\#(group)/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"size":"small","port":"http","note":null,"labels":{"a":"b"},"free":{"any":{"thing":1}},"junk":1},"status":{"phase":"ignored"},"top":1}"#)
        #expect(created.code == 201, "\(created.text)")
        let w = created.json
        #expect(w.value(at: "spec.count")?.intValue == 3)
        #expect(w.value(at: "spec.junk") == nil)
        #expect(w["top"] == nil)
        #expect(w.value(at: "spec.free.any.thing")?.intValue == 1)
        #expect(w.value(at: "metadata.namespace") == nil)

        // Spec and status are written separately.
        let status = try c.put(base + "/w1/status", #"{"apiVersion":"\#(group)/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"size":"large"},"status":{"phase":"Ready"}}"#)
        #expect(status.code == 200, "\(status.text)")
        #expect(status.json.value(at: "status.phase") == "Ready")
        #expect(status.json.value(at: "spec.size") == "small")
        let main = try c.patch(base + "/w1", #"{"spec":{"size":"large"},"status":{"phase":"Lost"}}"#)
        #expect(main.json.value(at: "spec.size") == "large")
        #expect(main.json.value(at: "status.phase") == "Ready")
        #expect(main.json.value(at: "metadata.generation")?.intValue == 2)

        // A watch from a resourceVersion sees later changes, with bookmarks when asked.
        let rv = main.json.value(at: "metadata.resourceVersion")?.stringValue ?? ""
        let watch = try c.watch(base + "?watch=true&resourceVersion=\(rv)&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dw2")
        _ = try c.post(base, #"{"apiVersion":"\#(group)/v1","kind":"Widget","metadata":{"name":"w2"},"spec":{"size":"small"}}"#)
        let event = try watch.next()
        watch.close()
        #expect(event?["type"] == "ADDED")
        #expect(event?.value(at: "object.metadata.name") == "w2")

        // Deleting the definition removes its objects: a new definition of the same name starts empty.
        #expect(try c.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.\(group)").code == 200)
        #expect(TestEnv.eventually(10) { (try? c.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.\(group)").code) == 404 })
        #expect(try c.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).code == 201)
        #expect(try c.get(base).json["items"]?.arrayValue?.isEmpty == true)
        #expect(try c.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.\(group)").code == 200)
    }

    @Test func namespaceDeletionDeletesCustomResources() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        let group = "n\(Int.random(in: 1000...9999)).example.com"
        #expect(try c.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                           definitionJSON(plural: "gadgets", group: group, kind: "Gadget", schema: #"{"type":"object"}"#)).code == 201)
        let ns = TestEnv.uniqueName("gadgets")
        #expect(try c.post("/api/v1/namespaces", #"{"metadata":{"name":"\#(ns)"}}"#).code == 201)
        let base = "/apis/\(group)/v1/namespaces/\(ns)/gadgets"
        #expect(try c.post(base, #"{"apiVersion":"\#(group)/v1","kind":"Gadget","metadata":{"name":"g"}}"#).code == 201)
        #expect(try c.delete("/api/v1/namespaces/\(ns)").code == 200)
        #expect(TestEnv.eventually(15) { (try? c.get("/api/v1/namespaces/\(ns)").code) == 404 })
        #expect(try c.get(base).json["items"]?.arrayValue?.isEmpty == true)
    }

    /// The HPA controller finds a custom kind through discovery and scales it through its scale subresource.
    @Test func autoscalerScalesACustomResource() throws {
        let m = try MasterProcess(controllers: true)
        defer { m.stop() }
        let c = m.client
        let k = try Kubectl(version: "1.33", master: m)
        defer { try? FileManager.default.removeItem(atPath: k.cacheDir) }
        _ = try k.ok("apply", "-f", "-", stdin: cronTabDefinition())
        _ = try k.ok("apply", "-f", "-", stdin: cronTab("scaled", namespace: "default", replicas: 2))
        let hpa = #"""
        {"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"tabs"},
         "spec":{"scaleTargetRef":{"apiVersion":"stable.example.com/v1","kind":"CronTab","name":"scaled"},"minReplicas":4,"maxReplicas":6,
                 "metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}}}]}}
        """#
        #expect(try c.post("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", hpa).code == 201)
        let scaled = TestEnv.eventually(40) {
            (try? c.get("/apis/stable.example.com/v1/namespaces/default/crontabs/scaled").json.value(at: "spec.replicas")?.intValue) == 4
        }
        let status = try c.get("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/tabs").text
        #expect(scaled, "\(status)")
        _ = try k.ok("delete", "crd", "crontabs.stable.example.com")
    }

    @Test func officialPythonClientCustomObjects() throws {
        guard let python = PythonClientTests.python() else { return }
        let m = try MasterProcess()
        defer { m.stop() }
        let r = try TestEnv.capture([python, TestEnv.repoRoot + "/Tests/compat/python_custom_objects_check.py", m.url], stdin: nil)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("custom objects: ok"))
    }
}
