// A Node whose node server is Tests/compat/fake_stats_summary.py on loopback: the master's metrics
// pipeline scrapes it for real (HTTP, its own client), so metrics.k8s.io and kubectl top can be
// tested without root. Pod i of its namespace uses (i+1) × 10m of CPU and (i+1) Mi per container.
import API
import Foundation
import TestSupport

final class FakeStatsNode {
    let process = Process()
    let name: String
    let namespace: String
    let port: Int

    /// Registers the node (Ready, 4 cpus, 8Gi) and creates `pods` pods bound to it, with labels app=top and idx=i.
    init(master: MasterProcess, pods: Int, containers: Int = 1, name: String = TestEnv.uniqueName("fake-node"),
         namespace: String = TestEnv.uniqueName("top")) throws {
        self.name = name
        self.namespace = namespace
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [TestEnv.repoRoot + "/Tests/compat/fake_stats_summary.py", name, String(pods), namespace,
                             "--containers", String(containers)]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line: [UInt8] = []
        while let byte = try out.fileHandleForReading.read(upToCount: 1)?.first, byte != 0x0a { line.append(byte) }
        guard let p = Int(String(decoding: line, as: UTF8.self)) else {
            process.terminate()
            throw TestHTTPError("fake_stats_summary.py did not start")
        }
        port = p
        let c = master.client
        _ = try c.post("/api/v1/namespaces", #"{"metadata":{"name":"\#(namespace)"}}"#)
        try Self.register(c, name: name, port: port)
        let containerList = (["app"] + (1..<max(containers, 1)).map { "side\($0)" }).map { #"{"name":"\#($0)","image":"busybox"}"# }
        for i in 0..<pods {
            let pod = #"{"metadata":{"name":"pod-\#(i)","labels":{"app":"top","idx":"\#(i)"}},"spec":{"nodeName":"\#(name)","containers":[\#(containerList.joined(separator: ","))]}}"#
            let r = try c.post("/api/v1/namespaces/\(namespace)/pods", pod)
            guard r.code == 201 else { throw TestHTTPError("creating pod-\(i): \(r.code) \(r.text)") }
        }
    }

    /// A Ready node object whose node server is 127.0.0.1:`port` (which may be nobody's).
    static func register(_ c: TestClient, name: String, port: Int, labels: String = #"{"metrics-test":"yes"}"#) throws {
        let node = """
            {"metadata":{"name":"\(name)","labels":\(labels)},
             "status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},
               "addresses":[{"type":"InternalIP","address":"127.0.0.1"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":\(port)}},
               "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady"}]}}
            """
        let r = try c.post("/api/v1/nodes", node)
        guard r.code == 201 else { throw TestHTTPError("registering node \(name): \(r.code) \(r.text)") }
    }

    /// SIGKILL: the test runner's children inherit a mask with SIGTERM blocked.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }

    deinit { stop() }
}

