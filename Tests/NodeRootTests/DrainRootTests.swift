// `kubectl drain` and `uncordon` (1.33) on a real one-node cluster (`skiff up`): a Deployment of
// two pods under a PodDisruptionBudget. With minAvailable 2 nothing may be evicted and drain times
// out on the budget's 429; with minAvailable 1 one pod goes and drain still times out (its
// replacement cannot schedule on the cordoned node); without the budget drain empties the node.
// Uncordoning lets the replacements run.
import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs the whole cluster"))
struct DrainRootTests {
    static let manifests = """
    apiVersion: v1
    kind: Namespace
    metadata: {name: drain}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: drain}
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          terminationGracePeriodSeconds: 2
          containers:
          - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
    ---
    apiVersion: policy/v1
    kind: PodDisruptionBudget
    metadata: {name: web, namespace: drain}
    spec:
      minAvailable: 2
      selector:
        matchLabels: {app: web}
    """

    @Test func drainRespectsTheDisruptionBudget() throws {
        let up = try SkiffUp(name: "skiff-drain")
        defer { up.stop() }
        func k(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) { try up.k(args) }
        let applied = try up.k(["apply", "-f", "-"], stdin: Self.manifests)
        #expect(applied.status == 0, "\(applied.stderr)")
        defer { _ = try? k("delete", "namespace", "drain", "--wait=false") }

        // Both pods Ready, and the controller's view of the budget: nothing may be disrupted.
        var budget = ""
        let synced = try TestEnv.eventually(90) {
            budget = try k("get", "pdb", "web", "-n", "drain", "-o",
                           "jsonpath={.status.expectedPods} {.status.currentHealthy} {.status.desiredHealthy} {.status.disruptionsAllowed}").stdout
            return budget == "2 2 2 0"
        }
        #expect(synced, "\(budget) \((try? k("get", "pods", "-n", "drain", "-o", "wide").stdout) ?? "") \(up.log)")
        let row = try k("get", "pdb", "-n", "drain", "--no-headers").stdout
        #expect(row.split(separator: " ", omittingEmptySubsequences: true).prefix(4) == ["web", "2", "N/A", "0"], "\(row)")
        let node = try k("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout

        // minAvailable 2 of 2: every eviction is refused until the timeout.
        let refused = try k("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=15s")
        #expect(refused.status != 0)
        #expect(refused.stdout.contains("node/\(node) cordoned"), "\(refused)")
        #expect(refused.stderr.contains("Cannot evict pod as it would violate the pod's disruption budget."), "\(refused)")
        #expect(try k("get", "node", node, "--no-headers").stdout.contains("Ready,SchedulingDisabled"))
        #expect(try k("get", "pods", "-n", "drain", "--field-selector", "spec.nodeName=\(node)", "-o", "name").stdout.split(separator: "\n").count == 2)

        // minAvailable 1: one pod may go; its replacement stays Pending on the cordoned node, so
        // the second eviction is refused and drain times out again.
        #expect(try k("patch", "pdb", "web", "-n", "drain", "--type=merge", "-p", #"{"spec":{"minAvailable":1}}"#).status == 0)
        #expect(try TestEnv.eventually(30) {
            try k("get", "pdb", "web", "-n", "drain", "-o", "jsonpath={.status.disruptionsAllowed}").stdout == "1"
        })
        let partial = try k("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=20s")
        #expect(partial.status != 0)
        #expect(partial.stdout.components(separatedBy: " evicted").count - 1 == 1, "\(partial)")
        #expect(partial.stderr.contains("disruption budget"), "\(partial)")

        // No budget: drain evicts what is left and succeeds.
        #expect(try k("delete", "pdb", "web", "-n", "drain").status == 0)
        let drained = try k("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s")
        #expect(drained.status == 0, "\(drained) \(up.log)")
        #expect(drained.stdout.contains("node/\(node) drained"), "\(drained)")
        #expect(try k("get", "pods", "-n", "drain", "--field-selector", "spec.nodeName=\(node)", "-o", "name").stdout.isEmpty)
        var pending = ""   // the ReplicaSet's replacements, with nowhere to run
        #expect(try TestEnv.eventually(30) {
            pending = try k("get", "pods", "-n", "drain", "-o", "jsonpath={.items[*].status.phase}").stdout
            return pending == "Pending Pending"
        }, "\(pending)")

        // Uncordon: schedulable again, and the replacements run.
        let uncordoned = try k("uncordon", node)
        #expect(uncordoned.stdout.contains("node/\(node) uncordoned"), "\(uncordoned)")
        #expect(!(try k("get", "node", node, "--no-headers").stdout.contains("SchedulingDisabled")))
        var ready = ""
        #expect(try TestEnv.eventually(90) {
            ready = try k("get", "deploy", "web", "-n", "drain", "-o", "jsonpath={.status.readyReplicas}").stdout
            return ready == "2"
        }, "\(ready) \(up.log)")
    }
}
