// The OpenAPI components generated from the schema: the kinds' fields with types, descriptions,
// merge keys, and $refs that resolve within the same set.
@testable import API
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

    /// The check that keeps the schema complete: every served built-in kind has a definition, and
    /// every definition reachable from one, and every field of those, has a description.
    @Test func everyServedKindIsDocumented() {
        var missingKinds: [String] = []
        var roots: [String] = []
        for r in ResourceRegistry.all {
            if let def = OpenAPIDefinitions.definition(for: GroupVersionKind(group: r.group, version: r.version, kind: r.kind)) {
                roots.append(def.name)
            } else {
                missingKinds.append("\(r.groupVersion) \(r.kind)")
            }
        }
        #expect(missingKinds.isEmpty, "served kinds without a schema: \(missingKinds)")
        var undocumented: [String] = []
        var queue = roots, seen = Set<String>()
        while let name = queue.popLast() {
            guard seen.insert(name).inserted, let def = OpenAPIDefinitions.byName[name] else { continue }
            if def.description.isEmpty { undocumented.append(name) }
            for f in def.fields {
                if f.description.isEmpty { undocumented.append("\(name).\(f.name)") }
                if let next = OpenAPIDefinitions.referenced(f.type) { queue.append(next) }
            }
        }
        #expect(seen.count > 100)
        #expect(undocumented.isEmpty, "\(undocumented.count) undocumented: \(undocumented.sorted().joined(separator: ", "))")
    }

    @Test func storageAutoscalingAndRBACFollowUpstream() throws {
        // Quantities, MicroTime and closed sets are typed as upstream types them.
        #expect(OpenAPIDefinitions.field(kind: "HorizontalPodAutoscaler", path: ["spec", "metrics", "resource", "target", "averageValue"])?.type == .quantity)
        #expect(OpenAPIDefinitions.field(kind: "Lease", path: ["spec", "renewTime"])?.type == .ref("io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"))
        #expect(OpenAPIDefinitions.field(kind: "PersistentVolumeClaim", path: ["spec", "accessModes"])?.type
                == .array(.enumeration(["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"])))
        #expect(OpenAPIDefinitions.field(kind: "PersistentVolume", path: ["spec", "hostPath", "type"])?.type
                == .enumeration(["", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"]))
        // `@enum` is the type, not an annotation.
        #expect(OpenAPIDefinitions.field(kind: "PersistentVolumeClaim", path: ["spec", "volumeMode"])?.annotations["enum"] == nil)
        #expect(OpenAPIDefinitions.field(kind: "PersistentVolumeClaim", path: ["status", "conditions"])?.annotations["listMapKeys"] == "type")
        #expect(OpenAPIDefinitions.field(kind: "Role", path: ["rules", "verbs"])?.annotations["required"] != nil)
        // autoscaling/v1 has its own definitions, the v2 kind its own.
        let v1 = try #require(OpenAPIDefinitions.definition(for: GroupVersionKind(group: "autoscaling", version: "v1", kind: "HorizontalPodAutoscaler")))
        #expect(v1.name == "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler")
        let v1Spec = try #require(OpenAPIDefinitions.byName["io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerSpec"])
        #expect(v1Spec.field("targetCPUUtilizationPercentage")?.type == .integer)
        #expect(v1Spec.field("metrics") == nil)
        // Server-side apply looks HorizontalPodAutoscaler up in its stored version, v2.
        #expect(OpenAPIDefinitions.field(kind: "HorizontalPodAutoscaler", path: ["status", "conditions"])?.annotations["mergeKey"] == "type")
        let v3 = OpenAPIDefinitions.components(reachableFrom: ["io.k8s.api.coordination.v1.Lease", "io.k8s.api.storage.v1.StorageClass"], .v3)
        #expect(v3["io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"]?["format"] == "date-time")
        // StorageClass's topology terms are core/v1's.
        #expect(v3["io.k8s.api.storage.v1.StorageClass"]?["properties"]?["allowedTopologies"]?["items"]?["$ref"]
                == "#/components/schemas/io.k8s.api.core.v1.TopologySelectorTerm")
        #expect(v3["io.k8s.api.storage.v1.StorageClass"]?["required"] == ["provisioner"])
    }
}
