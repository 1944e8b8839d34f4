// The real kubectl (oldest and newest installed: 1.27 and 1.33) against `skiff master`.
import API
import Foundation
import Testing
import TestSupport

struct Kubectl {
    let binary: String
    let server: String
    let cacheDir: String

    /// kubectl.1.XX sits beside the real path of `kubectl` (a dispatcher) on this machine and CI's.
    static func find(_ version: String) throws -> String {
        let path = try TestEnv.kubectl(version)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestHTTPError("kubectl \(version) not found at \(path): install kubectl 1.27–1.33 as on the CI machine")
        }
        return path
    }

    init(version: String, master: MasterProcess) throws {
        binary = try Kubectl.find(version)
        server = master.url
        cacheDir = try TestEnv.makeTempDir("kubectl-cache")
    }

    /// Runs and requires success, returning stdout.
    func ok(_ args: String..., stdin: String? = nil) throws -> String {
        let r = try runArgs(args, stdin: stdin)
        if r.status != 0 { Issue.record("kubectl \(args.joined(separator: " ")) failed (\(r.status)): \(r.err)") }
        return r.out
    }

    func runArgs(_ args: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let r = try TestEnv.capture([binary, "--kubeconfig", "/dev/null", "-s", server, "--cache-dir", cacheDir] + args, stdin: stdin)
        return (r.status, r.stdout, r.stderr)
    }
}

let manifests = """
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
        env:
        - {name: A, value: "1"}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: fast
"""

@Suite(.serialized) struct KubectlCompatTests {
    @Test(arguments: ["1.33", "1.27"])
    func applyGetPatchScaleLabelDelete(version: String) throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let k = try Kubectl(version: version, master: m)
        defer { try? FileManager.default.removeItem(atPath: k.cacheDir) }

        let applied = try k.ok("apply", "-f", "-", stdin: manifests)
        #expect(applied.contains("namespace/shop created"))
        #expect(applied.contains("deployment.apps/web created"))
        #expect(applied.contains("service/web created"))
        #expect(try k.ok("apply", "-f", "-", stdin: manifests).contains("deployment.apps/web unchanged"))
        let changed = manifests.replacingOccurrences(of: "replicas: 2", with: "replicas: 4")
            .replacingOccurrences(of: "{name: A, value: \"1\"}", with: "{name: A, value: \"1\"}\n        - {name: B, value: \"2\"}")
        #expect(try k.ok("apply", "-f", "-", stdin: changed).contains("deployment.apps/web configured"))
        #expect(try k.ok("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas} {.metadata.generation} {.spec.template.spec.containers[0].env[*].name}") == "4 2 A B")

        let table = try k.ok("get", "deployments,services,configmaps", "-n", "shop")
        #expect(table.contains("deployment.apps/web"))
        #expect(table.contains("0/4"))
        #expect(table.contains("ClusterIP"))
        let wide = try k.ok("get", "deploy", "-A", "-o", "wide")
        #expect(wide.contains("NAMESPACE"))
        #expect(wide.contains("nginx:1.25"))
        #expect(wide.contains("app=web"))
        #expect(try k.ok("get", "svc", "-n", "shop", "-o", "name") == "service/web\n")
        let json = try JSONValue.parse(try k.ok("get", "cm", "settings", "-n", "shop", "-o", "json"))
        #expect(json.value(at: "data.mode") == "fast")
        #expect(try k.ok("get", "cm", "-n", "shop", "-o", "yaml").contains("mode: fast"))

        #expect(try k.ok("run", "tool", "-n", "shop", "--image=busybox", "--labels=app=tool", "--", "sleep", "1000").contains("pod/tool created"))
        #expect(try k.ok("label", "pod", "tool", "-n", "shop", "tier=debug").contains("labeled"))
        #expect(try k.ok("annotate", "pod", "tool", "-n", "shop", "note=hi").contains("annotate"))
        #expect(try k.ok("get", "pods", "-n", "shop", "-l", "tier=debug", "-o", "name") == "pod/tool\n")
        #expect(try k.ok("get", "pods", "-n", "shop", "-l", "tier!=debug", "-o", "name") == "")
        #expect(try k.ok("get", "pods", "-A", "--field-selector", "metadata.name=tool", "-o", "name") == "pod/tool\n")
        _ = try k.ok("patch", "pod", "tool", "-n", "shop", "-p", #"{"metadata":{"labels":{"patched":"merge"}}}"#)
        _ = try k.ok("patch", "pod", "tool", "-n", "shop", "--type=json", "-p", #"[{"op":"add","path":"/metadata/labels/json","value":"yes"}]"#)
        _ = try k.ok("patch", "deploy", "web", "-n", "shop", "--type=strategic", "-p", #"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26"}]}}}}"#)
        #expect(try k.ok("get", "pod", "tool", "-n", "shop", "-o", "jsonpath={.metadata.labels.patched},{.metadata.labels.json}") == "merge,yes")
        #expect(try k.ok("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}") == "nginx:1.26 80")

        #expect(try k.ok("scale", "deploy/web", "-n", "shop", "--replicas=7").contains("scaled"))
        #expect(try k.ok("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas}") == "7")

        // Errors come back as kubectl's familiar messages.
        let missing = try k.runArgs(["get", "pod", "nope", "-n", "shop"])
        #expect(missing.status != 0)
        #expect(missing.err.contains(#"pods "nope" not found"#))
        let invalid = try k.runArgs(["apply", "-f", "-"], stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {containers: [{name: c, image: x}]}\n")
        #expect(invalid.status != 0)
        #expect(invalid.err.contains("is invalid"))

        #expect(try k.ok("delete", "pod", "tool", "-n", "shop").contains(#"pod "tool" deleted"#))
        // Contents first, then the namespace (a namespace deleted first takes its contents with it).
        let docs = manifests.components(separatedBy: "---\n")
        let reordered = (docs.dropFirst() + [docs[0]]).joined(separator: "---\n")
        let deleted = try k.ok("delete", "-f", "-", stdin: reordered)
        #expect(deleted.contains(#"deployment.apps "web" deleted"#))
        #expect(deleted.contains(#"namespace "shop" deleted"#))
        #expect(try k.ok("get", "ns", "-o", "name").contains("namespace/shop") == false)
    }

    /// kubectl's generators: 1.33 sends these as protobuf, 1.27 as JSON.
    @Test(arguments: ["1.33", "1.27"])
    func createGenerators(version: String) throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let k = try Kubectl(version: version, master: m)
        defer { try? FileManager.default.removeItem(atPath: k.cacheDir) }
        #expect(try k.ok("create", "namespace", "gen").contains("namespace/gen created"))
        #expect(try k.ok("create", "configmap", "cfg", "-n", "gen", "--from-literal=a=b", "--from-literal=c=d").contains("configmap/cfg created"))
        #expect(try k.ok("get", "cm", "cfg", "-n", "gen", "-o", "jsonpath={.data.a}{.data.c}") == "bd")
        #expect(try k.ok("create", "secret", "generic", "pw", "-n", "gen", "--from-literal=password=hunter2").contains("secret/pw created"))
        #expect(try k.ok("get", "secret", "pw", "-n", "gen", "-o", "jsonpath={.data.password} {.type}") == "aHVudGVyMg== Opaque")
        #expect(try k.ok("create", "deployment", "web", "-n", "gen", "--image=nginx:1.25", "--replicas=3", "--port=80").contains("deployment.apps/web created"))
        #expect(try k.ok("get", "deploy", "web", "-n", "gen", "-o", "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}") == "3 web nginx:1.25 80")
        #expect(try k.ok("create", "service", "clusterip", "web", "-n", "gen", "--tcp=80:8080").contains("service/web created"))
        #expect(try k.ok("get", "svc", "web", "-n", "gen", "-o", "jsonpath={.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.type}") == "80 8080 ClusterIP")
        #expect(try k.ok("create", "service", "nodeport", "np", "-n", "gen", "--tcp=80:80").contains("service/np created"))
        let np = Int(try k.ok("get", "svc", "np", "-n", "gen", "-o", "jsonpath={.spec.ports[0].nodePort}")) ?? 0
        #expect((30000...32767).contains(np))
        #expect(try k.ok("delete", "namespace", "gen").contains(#"namespace "gen" deleted"#))
    }

    @Test(arguments: ["1.33", "1.27"])
    func watchSeesChanges(version: String) throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let k = try Kubectl(version: version, master: m)
        defer { try? FileManager.default.removeItem(atPath: k.cacheDir) }
        _ = try k.ok("create", "-f", "-", stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: seed}\ndata: {a: b}\n")
        // `get -w` in the background for a few seconds while things change.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: k.binary)
        p.arguments = ["--kubeconfig", "/dev/null", "-s", k.server, "--cache-dir", k.cacheDir, "get", "configmaps", "-w", "--request-timeout=4s"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: 1.0)
        _ = try k.ok("create", "-f", "-", stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\ndata: {x: \"y\"}\n")
        _ = try k.ok("label", "configmap", "watched", "step=2")
        _ = try k.ok("delete", "configmap", "watched")
        let deadline = Date().addingTimeInterval(6)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if p.isRunning { p.terminate() }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let lines = text.split(separator: "\n")
        #expect(lines.first?.hasPrefix("NAME") == true)
        #expect(lines.contains { $0.hasPrefix("seed ") })
        #expect(lines.filter { $0.hasPrefix("watched ") }.count >= 3)
    }
}
