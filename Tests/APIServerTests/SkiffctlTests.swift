// skiffctl (the binary) against a real skiff master.
import API
import Foundation
import Testing
import TestSupport

struct Skiffctl {
    let server: String

    func run(_ args: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let r = try TestEnv.capture([TestEnv.binDir + "/skiffctl"] + args + ["--server", server], stdin: stdin)
        return (r.status, r.stdout, r.stderr)
    }

    func ok(_ args: String..., stdin: String? = nil) throws -> String {
        let r = try run(args, stdin: stdin)
        if r.status != 0 { Issue.record("skiffctl \(args.joined(separator: " ")) failed: \(r.err)") }
        return r.out
    }
}

@Suite(.serialized) struct SkiffctlTests {
    @Test func applyGetLabelScaleDescribeDelete() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let k = Skiffctl(server: m.url)
        let dir = try TestEnv.makeTempDir("skiffctl")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try manifests.write(toFile: dir + "/app.yaml", atomically: true, encoding: .utf8)

        let first = try k.ok("apply", "-f", dir)
        #expect(first.contains("namespace/shop created"))
        #expect(first.contains("deployment.apps/web created"))
        #expect(try k.ok("apply", "-f", dir + "/app.yaml").contains("deployment.apps/web unchanged"))
        try manifests.replacingOccurrences(of: "replicas: 2", with: "replicas: 3").write(toFile: dir + "/app.yaml", atomically: true, encoding: .utf8)
        let third = try k.ok("apply", "-f", "-", stdin: try String(contentsOfFile: dir + "/app.yaml", encoding: .utf8))
        #expect(third.contains("deployment.apps/web configured"))
        #expect(third.contains("service/web unchanged"))

        let table = try k.ok("get", "deploy,svc", "-n", "shop")
        #expect(table.contains("deployment.apps/web"))
        #expect(table.contains("0/3"))
        #expect(table.contains("service/web"))
        #expect(try k.ok("get", "deploy", "-A").hasPrefix("NAMESPACE"))
        #expect(try k.ok("get", "deploy", "-n", "shop", "-o", "wide").contains("nginx:1.25"))
        #expect(try k.ok("get", "svc", "-n", "shop", "-o", "name") == "service/web\n")
        let json = try JSONValue.parse(try k.ok("get", "deploy", "web", "-n", "shop", "-o", "json"))
        #expect(json.value(at: "spec.replicas") == 3)
        #expect(try k.ok("get", "cm", "settings", "-n", "shop", "-o", "yaml").contains("mode: fast"))
        #expect(try k.ok("get", "deploy", "-n", "shop", "-l", "app=web", "-o", "name") == "deployment.apps/web\n")
        #expect(try k.ok("get", "deploy", "-n", "shop", "-l", "app=other", "-o", "name") == "")

        #expect(try k.ok("label", "deploy", "web", "-n", "shop", "tier=front") == "deployment.apps/web labeled\n")
        let clash = try k.run(["label", "deploy/web", "-n", "shop", "tier=back"])
        #expect(clash.status == 1)
        #expect(clash.err == "error: 'tier' already has a value (front), and --overwrite is false\n")
        _ = try k.ok("label", "deploy/web", "-n", "shop", "tier=back", "--overwrite")
        _ = try k.ok("annotate", "deploy/web", "-n", "shop", "note=hi")
        _ = try k.ok("label", "deploy/web", "-n", "shop", "tier-")
        let labeled = try JSONValue.parse(try k.ok("get", "deploy", "web", "-n", "shop", "-o", "json"))
        #expect(labeled.value(at: "metadata.labels.tier") == nil)
        #expect(labeled.value(at: "metadata.annotations.note") == "hi")

        #expect(try k.ok("scale", "deploy/web", "-n", "shop", "--replicas=5") == "deployment.apps/web scaled\n")
        let described = try k.ok("describe", "deploy", "web", "-n", "shop")
        #expect(described.contains("Name:         web"))
        #expect(described.contains("replicas: 5"))
        #expect(described.contains("Events:"))

        let missing = try k.run(["get", "pod", "nope", "-n", "shop"])
        #expect(missing.status == 1)
        #expect(missing.err == "Error from server (NotFound): pods \"nope\" not found\n")
        #expect(try k.run(["get", "widgets"]).err == "error: the server doesn't have a resource type \"widgets\"\n")
        let badFile = try k.run(["apply", "-f", "-"], stdin: "kind: [broken")
        #expect(badFile.status == 1)
        #expect(badFile.err.hasPrefix("error: error parsing STDIN"))
        let invalid = try k.run(["apply", "-f", "-"], stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n")
        #expect(invalid.err.contains("spec.containers[0].image: Required value"))

        let deleted = try k.ok("delete", "-f", dir)
        #expect(deleted.contains("namespace \"shop\" deleted"))
        #expect(try k.ok("get", "ns", "-o", "name").contains("namespace/shop") == false)
    }

    @Test func waitRolloutAndWatch() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let k = Skiffctl(server: m.url)
        let c = m.client
        _ = try k.ok("apply", "-f", "-", stdin: """
            apiVersion: v1
            kind: Pod
            metadata: {name: p, labels: {app: p}}
            spec: {containers: [{name: c, image: busybox}]}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: d}
            spec:
              replicas: 2
              selector: {matchLabels: {app: d}}
              template:
                metadata: {labels: {app: d}}
                spec: {containers: [{name: c, image: nginx}]}
            """)
        // Readiness and rollout progress come from status writers (the node agent, the controllers):
        // play them here.
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) {
            _ = try? c.patch("/api/v1/namespaces/default/pods/p/status", #"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#)
            _ = try? c.patch("/apis/apps/v1/namespaces/default/deployments/d/status",
                             #"{"status":{"observedGeneration":1,"replicas":2,"updatedReplicas":2,"availableReplicas":2,"readyReplicas":2}}"#)
        }
        #expect(try k.ok("wait", "pod/p", "--for=condition=Ready", "--timeout=10s") == "pod/p condition met\n")
        #expect(try k.ok("rollout", "status", "deployment/d", "--timeout=10s").hasSuffix("deployment \"d\" successfully rolled out\n"))
        let timedOut = try k.run(["wait", "pod/p", "--for=condition=Initialized", "--timeout=1s"])
        #expect(timedOut.status == 1)
        #expect(timedOut.err.contains("timed out"))

        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { _ = try? c.delete("/api/v1/namespaces/default/pods/p") }
        #expect(try k.ok("wait", "pod/p", "--for=delete", "--timeout=10s") == "pod/p condition met\n")

        // get -w prints the table, then a row per change.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnv.binDir + "/skiffctl")
        p.arguments = ["get", "cm", "-w", "--server", m.url]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: 0.7)
        _ = try c.post("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"seen"},"data":{"a":"b"}}"#)
        Thread.sleep(forTimeInterval: 0.7)
        p.terminate()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.split(separator: "\n").contains { $0.hasPrefix("seen ") })
    }
}
