// The OpenAPI components generated from the schema: the kinds' fields with types, descriptions,
// merge keys, and $refs that resolve within the same set.
import API
import Testing

@Suite struct OpenAPIDefinitionsTests {
    func refs(_ v: JSONValue) -> [String] {
        switch v {
        case .object(let o): return o.flatMap { k, v in k == "$ref" ? [v.stringValue ?? ""] : refs(v) }
        case .array(let a): return a.flatMap(refs)
        default: return []
        }
    }

    @Test func podReachesContainerImage() throws {
        let components = OpenAPIDefinitions.components(reachableFrom: ["io.k8s.api.core.v1.Pod"], .v3)
        let pod = try #require(components["io.k8s.api.core.v1.Pod"])
        #expect(pod["x-kubernetes-group-version-kind"] == [["group": "", "version": "v1", "kind": "Pod"]])
        #expect(pod["properties"]?["kind"]?["type"] == "string")
        // A documented field's $ref is wrapped in allOf (3.0 ignores a $ref's siblings).
        #expect(pod["properties"]?["spec"]?["allOf"] == [["$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"]])
        let spec = try #require(components["io.k8s.api.core.v1.PodSpec"])
        let containers = try #require(spec["properties"]?["containers"])
        #expect(containers["type"] == "array")
        #expect(containers["items"]?["$ref"] == "#/components/schemas/io.k8s.api.core.v1.Container")
        #expect(containers["x-kubernetes-patch-merge-key"] == "name")
        #expect(containers["x-kubernetes-patch-strategy"] == "merge")
        #expect(spec["required"] == ["containers"])
        let image = try #require(components["io.k8s.api.core.v1.Container"]?["properties"]?["image"])
        #expect(image["type"] == "string")
        #expect(image["description"]?.stringValue?.contains("The image reference to run") == true)
        // Every $ref names a component of the same set.
        let all = refs(.object(components))
        #expect(all.count > 20)
        for r in all {
            #expect(r.hasPrefix("#/components/schemas/"))
            #expect(components[String(r.dropFirst("#/components/schemas/".count))] != nil, "\(r)")
        }
        #expect(components["io.k8s.api.apps.v1.Deployment"] == nil)
    }

    @Test func v2PointsAtDefinitions() throws {
        let components = OpenAPIDefinitions.components(reachableFrom: ["io.k8s.api.core.v1.Pod"], .v2)
        let time = try #require(components["io.k8s.apimachinery.pkg.apis.meta.v1.Time"])
        #expect(time["format"] == "date-time")
        let meta = try #require(components["io.k8s.api.core.v1.Pod"]?["properties"]?["metadata"])
        #expect(meta["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    }

    @Test func fieldLookupFollowsTheKind() {
        #expect(OpenAPIDefinitions.field(kind: "Pod", path: ["spec", "containers"])?.annotations["mergeKey"] == "name")
        #expect(OpenAPIDefinitions.field(kind: "Pod", path: ["spec", "containers", "image"])?.type == .string)
        #expect(OpenAPIDefinitions.field(kind: "Pod", path: ["spec", "nope", "image"]) == nil)
    }
}
