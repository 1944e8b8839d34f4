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

    /// `kubectl ARGS -w` for about 4 s while `changes` runs: what it printed.
    func watch(_ args: [String], during changes: () throws -> Void) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["--kubeconfig", "/dev/null", "-s", server, "--cache-dir", cacheDir] + args + ["-w", "--request-timeout=4s"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: 1.0)
        try changes()
        let deadline = Date().addingTimeInterval(6)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if p.isRunning { p.terminate() }
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
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
        let text = try k.watch(["get", "configmaps"]) {
            _ = try k.ok("create", "-f", "-", stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\ndata: {x: \"y\"}\n")
            _ = try k.ok("label", "configmap", "watched", "step=2")
            _ = try k.ok("delete", "configmap", "watched")
        }
        let lines = text.split(separator: "\n")
        #expect(lines.first?.hasPrefix("NAME") == true)
        #expect(lines.contains { $0.hasPrefix("seed ") })
        #expect(lines.filter { $0.hasPrefix("watched ") }.count >= 3)
    }

    /// `kubectl top` of every installed version against the metrics pipeline scraping a fake node server.
    @Test func topNodesAndPods() throws {
        let m = try MasterProcess(extraArgs: ["--metric-resolution", "1s"])
        defer { m.stop() }
        let node = try FakeStatsNode(master: m, pods: 3, containers: 2)
        defer { node.stop() }
        let ns = node.namespace
        // A pod the node does not report: it exists, but has no metrics.
        _ = try m.client.post("/api/v1/namespaces/\(ns)/pods", #"{"metadata":{"name":"quiet"},"spec":{"nodeName":"\#(node.name)","containers":[{"name":"c","image":"busybox"}]}}"#)
        for version in ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"] {
            let k = try Kubectl(version: version, master: m)
            defer { try? FileManager.default.removeItem(atPath: k.cacheDir) }
            // Two readings a second apart before the first numbers.
            #expect(TestEnv.eventually(15) { (try? k.runArgs(["top", "pods", "-n", ns]).status) == 0 }, "kubectl \(version) top pods")

            let nodes = Self.rows(try k.ok("top", "nodes"))
            #expect(nodes.first?.map { $0.replacingOccurrences(of: "(%)", with: "%") } == ["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"],
                    "\(version): \(nodes)")
            let row = nodes.first { $0.first == node.name } ?? []
            #expect(row.count == 5 && Self.near(row[1], 250) && row.dropFirst(2) == ["6%", "1024Mi", "12%"], "\(version): 250m of 4 cores, 1Gi of 8Gi: \(nodes)")
            #expect(try k.ok("top", "node", node.name, "--no-headers").hasPrefix(node.name + " "), "\(version)")
            #expect(Self.rows(try k.ok("top", "nodes", "-l", "metrics-test=yes", "--no-headers")).map(\.[0]) == [node.name], "\(version)")
            let none = try k.runArgs(["top", "nodes", "-l", "metrics-test=no"])
            #expect(none.status != 0 && none.err.contains("metrics not available yet"), "\(version): kubectl's answer to an empty list: \(none.err)")

            // Pod i: two containers of (i+1) × 10m and (i+1) Mi each.
            let pods = Self.rows(try k.ok("top", "pods", "-n", ns, "--no-headers"))
            #expect(pods.map(\.[0]).sorted() == ["pod-0", "pod-1", "pod-2"], "\(version): \(pods)")
            for p in pods {
                let i = Int(p[0].dropFirst(4)) ?? 0
                #expect(p.count == 3 && Self.near(p[1], 20 * (i + 1)) && p[2] == "\(2 * (i + 1))Mi", "\(version): \(p)")
            }
            for key in ["cpu", "memory"] {
                let sorted = Self.rows(try k.ok("top", "pods", "-n", ns, "--sort-by=\(key)", "--no-headers")).map(\.[0])
                #expect(sorted == ["pod-2", "pod-1", "pod-0"], "\(version) --sort-by=\(key): \(sorted)")
            }
            let containers = Self.rows(try k.ok("top", "pods", "-n", ns, "--containers", "-l", "idx=1"))
            #expect(containers.first == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"], "\(version): \(containers)")
            #expect(containers.dropFirst().map { [$0[0], $0[1], $0[3]] } == [["pod-1", "app", "2Mi"], ["pod-1", "side1", "2Mi"]], "\(version): \(containers)")
            #expect(containers.dropFirst().allSatisfy { Self.near($0[2], 20) }, "\(version): \(containers)")
            let all = Self.rows(try k.ok("top", "pods", "-A"))
            #expect(all.first == ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"], "\(version): \(all)")
            #expect(all.filter { $0.first == ns }.map(\.[1]).sorted() == ["pod-0", "pod-1", "pod-2"], "\(version): \(all)")
            let one = Self.rows(try k.ok("top", "pod", "pod-2", "-n", ns, "--no-headers"))
            #expect(one.count == 1 && one.first?.first == "pod-2" && one.first?.last == "6Mi", "\(version): \(one)")

            // Errors as on a cluster with metrics-server.
            let missingPod = try k.runArgs(["top", "pod", "nope", "-n", ns])
            #expect(missingPod.status != 0 && missingPod.err.contains(#"pods "nope" not found"#), "\(version): \(missingPod.err)")
            let quiet = try k.runArgs(["top", "pod", "quiet", "-n", ns])
            #expect(quiet.status != 0 && quiet.err.contains(#"podmetrics.metrics.k8s.io "\#(ns)/quiet" not found"#), "\(version): \(quiet.err)")
            let missingNode = try k.runArgs(["top", "node", "nope"])
            #expect(missingNode.status != 0 && missingNode.err.contains(#"node "nope" not found"#), "\(version): \(missingNode.err)")
            let empty = try k.runArgs(["top", "pods", "-n", "default"])
            #expect(empty.status == 0 && empty.out.isEmpty && empty.err.contains("No resources found in default namespace."), "\(version): \(empty)")

            let services = Self.rows(try k.ok("get", "apiservices"))
            #expect(services.first == ["NAME", "SERVICE", "AVAILABLE", "AGE"], "\(version): \(services)")
            #expect(services.contains { $0.prefix(3) == ["v1beta1.metrics.k8s.io", "Local", "True"] }, "\(version): \(services)")
            #expect(try k.ok("api-resources", "--api-group=metrics.k8s.io", "--no-headers").contains("PodMetrics"), "\(version)")
        }
    }

    /// kubectl's columns, split on spaces.
    static func rows(_ text: String) -> [[String]] {
        text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
    }

    /// "21m" is within a millicore or two of `milli` (kubectl rounds nanocores up; the fake's counters are not exact).
    static func near(_ cell: String, _ milli: Int) -> Bool {
        guard cell.hasSuffix("m"), let v = Int(cell.dropLast()) else { return false }
        return v >= milli && v <= milli + 2
    }
}
