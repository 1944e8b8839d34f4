import API
import Client
import Testing
import YAML

@Suite struct ClientTests {
    @Test func yamlManifestsBecomeTypedJSON() throws {
        let docs = try Manifests.parse("""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, labels: {app: web}}
        spec:
          replicas: 3
          paused: false
          ratio: 0.5
          empty: null
          quoted: "80"
          yes11: yes
        ---
        # a comment-only document is skipped
        ---
        {"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}]}
        """, source: "test.yaml")
        #expect(docs.count == 2)
        let d = docs[0].object
        #expect(d.value(at: "spec.replicas") == 3)
        #expect(d.value(at: "spec.paused") == false)
        #expect(d.value(at: "spec.ratio") == .double(0.5))
        #expect(d.value(at: "spec.empty") == .null)
        #expect(d.value(at: "spec.quoted") == "80")
        #expect(d.value(at: "spec.yes11") == true)
        #expect(d.objectValue?.keys == ["apiVersion", "kind", "metadata", "spec"])
        #expect(docs[1].object["kind"] == "ConfigMap")
    }

    @Test func badYAMLNamesTheSource() {
        #expect(throws: ClientError.self) { try Manifests.parse("a: [1, 2", source: "broken.yaml") }
        do { _ = try Manifests.parse("a: [1, 2", source: "broken.yaml") } catch { #expect("\(error)".contains("broken.yaml")) }
    }

    @Test func yamlOutputQuotesWhatWouldChangeType() throws {
        let text = YAMLDocuments.yaml(["b": "80", "a": 1, "c": ["yes", true, .null], "d": "plain"])
        #expect(text.hasPrefix("a: 1\nb:"))
        let back = try Manifests.parse(text, source: "roundtrip")[0].object
        #expect(back["b"] == "80")
        #expect(back["c"] == ["yes", true, .null])
    }

    @Test func resourceNamesResolveLikeKubectl() throws {
        #expect(try ResourceResolver.resolve("po").plural == "pods")
        #expect(try ResourceResolver.resolve("deploy").group == "apps")
        #expect(try ResourceResolver.resolve("deployments.apps").kind == "Deployment")
        #expect(try ResourceResolver.resolve("Service").plural == "services")
        #expect(throws: ClientError.self) { try ResourceResolver.resolve("widgets") }
        let deploy = try ResourceResolver.resolve("deploy")
        #expect(ResourceResolver.path(deploy, namespace: "ns", name: "web", subresource: "scale") == "/apis/apps/v1/namespaces/ns/deployments/web/scale")
        #expect(ResourceResolver.displayName(deploy, "web") == "deployment.apps/web")
        #expect(queryEscape("app in (a,b)") == "app%20in%20%28a%2Cb%29")
    }
}
