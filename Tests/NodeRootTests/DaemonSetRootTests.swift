// A DaemonSet on a real cluster (`skiff up`, kubectl 1.33): its pod runs on the node, an image
// update rolls out, `kubectl rollout history` lists both revisions and `rollout undo` goes back.
import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs the whole cluster"))
struct DaemonSetRootTests {
    static let manifest = """
    apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: agent}
    spec:
      selector: {matchLabels: {app: agent}}
      template:
        metadata: {labels: {app: agent}}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
          - {name: agent, image: "busybox:latest", imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
    """

    @Test func rolloutUpdateHistoryAndUndo() throws {
        let up = try SkiffUp(name: "skiff-ds")
        defer { up.stop() }
        func k(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) { try up.k(args) }
        // A second tag of the same image, so the update changes the image without a registry.
        _ = try TestEnv.capture([up.skiff, "image", "import", "--root", up.dir + "/node", try TestEnv.busyboxImageLayout(), "--tag", "busybox:v2"])
        #expect(try up.k(["apply", "-f", "-"], stdin: Self.manifest).status == 0)
        let rolled = try k("rollout", "status", "daemonset/agent", "--timeout=60s")
        #expect(rolled.status == 0, "\(rolled) \(up.log)")
        let row = try k("get", "ds", "agent", "--no-headers").stdout.split(separator: " ", omittingEmptySubsequences: true)
        #expect(row.count >= 6 && row[1...5].allSatisfy { $0 == "1" }, "desired/current/ready/up-to-date/available: \(row)")
        let first = try k("get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[0].metadata.name}").stdout

        #expect(try k("set", "image", "ds/agent", "agent=busybox:v2").status == 0)
        let updated = try k("rollout", "status", "daemonset/agent", "--timeout=60s")
        #expect(updated.status == 0, "\(updated) \(up.log)")
        var image = ""
        #expect(try TestEnv.eventually(30) {
            image = try k("get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].spec.containers[0].image}").stdout
            return image == "busybox:v2"
        }, "\(image)")
        #expect(try k("get", "pod", first).status != 0 || (try k("get", "pod", first, "-o", "jsonpath={.metadata.deletionTimestamp}").stdout.isEmpty == false),
                "the old pod was replaced")
        let history = try k("rollout", "history", "daemonset/agent")
        #expect(history.status == 0 && history.stdout.contains("1 ") && history.stdout.contains("2 "), "\(history)")

        let undo = try k("rollout", "undo", "daemonset/agent")
        #expect(undo.status == 0, "\(undo)")
        #expect(try k("rollout", "status", "daemonset/agent", "--timeout=60s").status == 0)
        #expect(try TestEnv.eventually(30) {
            image = try k("get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].spec.containers[0].image}").stdout
            return image == "busybox:latest"
        }, "\(image)")
        #expect(try k("get", "ds", "agent", "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout == "busybox:latest")

        // Deleting the DaemonSet deletes its pods and revisions.
        #expect(try k("delete", "ds", "agent").status == 0)
        #expect(try TestEnv.eventually(30) { try k("get", "pods", "-l", "app=agent", "-o", "name").stdout.isEmpty })
        #expect(try TestEnv.eventually(30) { try k("get", "controllerrevisions", "-o", "name").stdout.isEmpty })
    }
}
