// Node housekeeping: container logs rotate by size and count (and `kubectl logs` keeps
// working), unused images are garbage-collected past the disk threshold while images in use stay.
import API
import Client
import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct HousekeepingRootTests {
    @Test func logsRotateAndUnusedImagesAreCollected() throws {
        let c = try Cluster(startNode: false)
        defer { c.stop() }
        // Thresholds of 0 %: every check collects what no container uses.
        c.nodeArgs = "--container-log-max-size 2Ki --container-log-max-files 3 --image-gc-high-threshold 0 --image-gc-low-threshold 0 --image-gc-interval 1"
        try c.startNode()
        try c.createPod(podYAML("chatty", node: c.nodeName,
                                command: "i=0; while [ $i -lt 200 ]; do echo line-$i-padding-padding-padding-padding; i=$((i+1)); done; sleep 1000"))
        #expect(try c.eventually { try c.kubectl(["logs", "chatty"]).out.contains("line-199-") }, "\(c.nodeLog)")
        let containersDir = c.dir + "/node/containers"
        let dir = try FileManager.default.contentsOfDirectory(atPath: containersDir).map { containersDir + "/" + $0 }.first { d in
            ((try? String(contentsOfFile: d + "/config.json", encoding: .utf8)) ?? "").contains("k8s_c_chatty_")
        }
        let logs = try FileManager.default.contentsOfDirectory(atPath: dir ?? "/nonexistent").filter { $0.hasPrefix("container.log") }.sorted()
        #expect(logs == ["container.log", "container.log.1", "container.log.2"], "\(logs)")
        for name in logs {
            let size = (try FileManager.default.attributesOfItem(atPath: (dir ?? "") + "/" + name)[.size] as? Int) ?? 0
            #expect(size <= 2048 + 200, "\(name) is \(size) bytes")
        }
        let shown = try c.kubectl(["logs", "chatty"]).out
        #expect(!shown.contains("line-0-"), "only the current file is shown, as the kubelet does")

        // The image in use stays through several GC passes; once unused, it goes.
        Thread.sleep(forTimeInterval: 2.5)
        let images = { try TestEnv.capture([TestEnv.binDir + "/skiff", "image", "ls", "--root", c.dir + "/node"]).stdout }
        #expect(try images().contains("busybox"))
        _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/chatty")
        #expect(try c.eventually(20) { try c.containers().isEmpty })
        // (The log line comes after the removal and the prune: wait for both.)
        #expect(try c.eventually(10) { try !images().contains("busybox") && c.nodeLog.contains("image gc: removed") }, "\(c.nodeLog)")
    }
}
