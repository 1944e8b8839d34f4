// kubectl explain on built-in kinds against a real master: the schemas come from the schema
// table (/openapi/v3).
import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct OpenAPIKubectlTests {
    /// 1.27 and 1.33 both read /openapi/v3 for explain.
    @Test(arguments: ["1.33", "1.27"])
    func explainBuiltInPod(version: String) throws {
        guard getuid() == 0 else { return }
        let m = try MasterProcess()
        defer { m.stop() }
        let k = try Kubectl(version: version, master: m)
        defer { try? FileManager.default.removeItem(atPath: k.cacheDir) }
        let image = try k.ok("explain", "pod.spec.containers.image")
        #expect(image.contains("FIELD: image <string>"), "\(image)")
        #expect(image.contains("The image reference to run"), "\(image)")
        let recursive = try k.ok("explain", "pod.spec", "--recursive")
        #expect(recursive.contains("containers\t<[]Container> -required-"), "\(recursive)")
        #expect(recursive.contains("nodeName\t<string>"), "\(recursive)")
        #expect(recursive.contains("restartPolicy\t<string>"), "\(recursive)")
        // The v2 document (JSON) names the same definitions.
        let v2 = try m.client.get("/openapi/v2").json
        #expect(v2["definitions"]?["io.k8s.api.core.v1.Container"]?["properties"]?["image"]?["type"] == "string")
    }

    /// The kinds completed after Pod: storage, autoscaling, policy, RBAC, coordination.
    @Test(arguments: ["1.33", "1.27"])
    func explainStorageAutoscalingRBACAndLease(version: String) throws {
        guard getuid() == 0 else { return }
        let m = try MasterProcess()
        defer { m.stop() }
        let k = try Kubectl(version: version, master: m)
        defer { try? FileManager.default.removeItem(atPath: k.cacheDir) }
        let resources = try k.ok("explain", "pvc.spec.resources")
        #expect(resources.contains("FIELD: resources <VolumeResourceRequirements>"), "\(resources)")
        #expect(resources.contains("requests\t<map[string]Quantity>"), "\(resources)")
        #expect(resources.contains("The least storage the claim needs"), "\(resources)")
        let rules = try k.ok("explain", "role.rules", "--recursive")
        #expect(rules.contains("FIELD: rules <[]PolicyRule>"), "\(rules)")
        #expect(rules.contains("verbs\t<[]string> -required-"), "\(rules)")
        #expect(rules.contains("nonResourceURLs\t<[]string>"), "\(rules)")
        let binding = try k.ok("explain", "rolebinding.roleRef", "--recursive")
        #expect(binding.contains("apiGroup\t<string> -required-"), "\(binding)")
        let metrics = try k.ok("explain", "hpa.spec.metrics", "--recursive")
        #expect(metrics.contains("FIELD: metrics <[]MetricSpec>"), "\(metrics)")
        #expect(metrics.contains("averageValue\t<Quantity>"), "\(metrics)")
        #expect(metrics.contains("describedObject\t<CrossVersionObjectReference> -required-"), "\(metrics)")
        let v1 = try k.ok("explain", "hpa.spec", "--api-version=autoscaling/v1")
        #expect(v1.contains("targetCPUUtilizationPercentage\t<integer>"), "\(v1)")
        #expect(!v1.contains("metrics\t"), "\(v1)")
        let pdb = try k.ok("explain", "pdb.spec")
        // kubectl names shared leaf types by their JSON type (IntOrString, MicroTime: string).
        #expect(pdb.contains("minAvailable\t<string>"), "\(pdb)")
        #expect(pdb.contains("Pods that must stay available after an eviction"), "\(pdb)")
        #expect(pdb.contains("selector\t<LabelSelector>"), "\(pdb)")
        #expect(pdb.contains("unhealthyPodEvictionPolicy\t<string>"), "\(pdb)")
        let holder = try k.ok("explain", "lease.spec.holderIdentity")
        #expect(holder.contains("FIELD: holderIdentity <string>"), "\(holder)")
        #expect(holder.contains("The identity of the current holder"), "\(holder)")
        let renew = try k.ok("explain", "lease.spec.renewTime")
        #expect(renew.contains("FIELD: renewTime <string>"), "\(renew)")
        #expect(renew.contains("with microseconds"), "\(renew)")
        let quota = try k.ok("explain", "resourcequota.spec.scopeSelector", "--recursive")
        #expect(quota.contains("scopeName\t<string> -required-"), "\(quota)")
        let sc = try k.ok("explain", "storageclass")
        #expect(sc.contains("provisioner\t<string> -required-"), "\(sc)")
        let event = try k.ok("explain", "event.involvedObject")
        #expect(event.contains("FIELD: involvedObject <ObjectReference>"), "\(event)")
    }
}

