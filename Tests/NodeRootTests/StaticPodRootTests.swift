// Static pods from --manifests: they run with no master at all, get mirror pods when there is
// one, survive their mirror being deleted, and stop when their file goes; and the node keeps
// its pods running while the master is away.
import API
import Client
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

func staticPodYAML(_ name: String, command: String) -> String {
    """
    apiVersion: v1
    kind: Pod
    metadata: {name: \(name), labels: {tier: static}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: busybox:test, command: ["sh", "-c", "\(command)"]}]
    """
}

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct StaticPodRootTests {
    @Test func staticPodsRunWithoutAMasterAndAreMirroredWithOne() throws {
        let c = try Cluster(startNode: false)
        defer { c.stop() }
        let manifests = c.dir + "/manifests"
        try FileManager.default.createDirectory(atPath: manifests, withIntermediateDirectories: true)
        try staticPodYAML("web", command: "echo static; sleep 1000").write(toFile: manifests + "/web.yaml", atomically: true, encoding: .utf8)
        try "not: [valid".write(toFile: manifests + "/broken.yaml", atomically: true, encoding: .utf8)

        // No master: the node is pointed at a port nobody listens on.
        c.nodeArgs = "--manifests \(manifests)"
        c.nodeServer = "http://127.0.0.1:1"
        try c.startNode()
        #expect(try c.eventually { try c.appContainers().contains { $0.contains("k8s_c_web-\(c.nodeName)_default_") && $0.contains("Running") } },
                "\(c.nodeLog) \((try? c.containers()) ?? [])")
        #expect(c.nodeLog.contains("broken.yaml"), "a bad manifest is reported and skipped")

        // Now with the master: a mirror pod shows the static pod and its status.
        c.killNode()
        c.nodeServer = nil
        try c.startNode()
        let mirrorName = "web-\(c.nodeName)"
        #expect(try c.eventually { try c.pod(mirrorName)?.value(at: "status.phase") == "Running" }, "\(c.nodeLog)")
        let mirror = try c.pod(mirrorName)
        #expect(mirror?.value(at: "metadata.annotations.kubernetes\\.io/config\\.mirror") != nil || mirror?["metadata"]?["annotations"]?["kubernetes.io/config.mirror"] != nil)
        #expect(mirror?.value(at: "spec.nodeName")?.stringValue == c.nodeName)
        let containerID = try c.status(mirrorName, "c")?["containerID"]?.stringValue
        #expect(try c.appContainers().filter { $0.contains("k8s_c_web-") }.count == 1, "re-adopted, not restarted")

        // Deleting the mirror does not stop the static pod; the mirror comes back.
        _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/\(mirrorName)")
        #expect(try c.eventually(15) { try c.pod(mirrorName)?["metadata"]?["deletionTimestamp"] == nil && c.pod(mirrorName) != nil })
        #expect(try c.eventually(10) { try c.status(mirrorName, "c")?["containerID"]?.stringValue == containerID })

        // Removing the file stops the pod and removes its mirror.
        try FileManager.default.removeItem(atPath: manifests + "/web.yaml")
        #expect(try c.eventually(20) { try c.appContainers().isEmpty && c.pod(mirrorName) == nil }, "\(c.nodeLog)")
        #expect(c.podCgroups().isEmpty)
    }

    @Test func podsKeepRunningWhileTheMasterIsAway() throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.createPod(podYAML("steady", node: c.nodeName, command: "sleep 1000"))
        #expect(try c.eventually { try c.pod("steady")?.value(at: "status.phase") == "Running" })
        let before = try c.appContainers()
        // The master stops; the node retries, keeps the pod, and reports again once it is back.
        kill(c.master.processIdentifier, SIGKILL)
        c.master.waitUntilExit()
        Thread.sleep(forTimeInterval: 3)
        #expect(try c.appContainers() == before, "no pod is killed because the master is away")
        let restarted = Process()
        restarted.executableURL = URL(fileURLWithPath: TestEnv.binDir + "/skiff")
        restarted.arguments = ["master", "--listen", "127.0.0.1:\(c.port)", "--dns-port", "0", "--data-dir", c.dir + "/master"]
        restarted.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try restarted.run()
        defer { kill(restarted.processIdentifier, SIGKILL); restarted.waitUntilExit() }
        #expect(try c.eventually(20) { (try? c.api.get("/api/v1/nodes/\(c.nodeName)").code) == 200 })
        try c.createPod(podYAML("after", node: c.nodeName, command: "sleep 1000"))
        #expect(try c.eventually(30) { (try? c.pod("after"))??.value(at: "status.phase") == "Running" }, "\(c.nodeLog)")
        #expect(try c.appContainers().filter { $0.contains("k8s_c_steady_") } == before.filter { $0.contains("k8s_c_steady_") })
        for name in ["steady", "after"] { _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/\(name)") }
        #expect(try c.eventually(20) { try c.containers().isEmpty })
    }
}
