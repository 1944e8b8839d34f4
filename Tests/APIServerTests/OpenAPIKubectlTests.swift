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
}
