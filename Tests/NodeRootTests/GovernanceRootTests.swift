// Resource governance on a real one-node cluster (`skiff up`, kubectl 1.33): a LimitRange's
// defaults land on a pod that runs, its PriorityClass gives it a priority, the quota controller
// counts it and lets a finished pod's room go, and the quota refuses the pod over it in
// Kubernetes' words.
import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs the whole cluster"))
struct GovernanceRootTests {
    func pod(_ name: String, namespace: String, command: String, extra: String = "") -> String {
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: \(name), namespace: \(namespace)}
        spec:
          terminationGracePeriodSeconds: 1
          restartPolicy: Never
        \(extra)
          containers:
          - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "\(command)"]}
        """
    }

    @Test func limitRangeDefaultsAQuotaCountsAndRefuses() throws {
        let up = try SkiffUp(name: "skiff-govern")
        defer { up.stop() }
        let ns = TestEnv.uniqueName("govern")
        let priority = ns + "-high"
        let applied = try up.k(["apply", "-f", "-"], stdin: """
            apiVersion: v1
            kind: Namespace
            metadata: {name: \(ns)}
            ---
            apiVersion: scheduling.k8s.io/v1
            kind: PriorityClass
            metadata: {name: \(priority)}
            value: 5000
            ---
            apiVersion: v1
            kind: LimitRange
            metadata: {name: defaults, namespace: \(ns)}
            spec:
              limits:
              - type: Container
                default: {cpu: 200m, memory: 64Mi}
                defaultRequest: {cpu: 100m, memory: 32Mi}
            ---
            apiVersion: v1
            kind: ResourceQuota
            metadata: {name: compute, namespace: \(ns)}
            spec:
              hard: {pods: 2, requests.cpu: 1, limits.memory: 256Mi}
            """)
        #expect(applied.status == 0, "\(applied.stderr)")
        defer {
            _ = try? up.k("delete", "namespace", ns, "--wait=false")
            _ = try? up.k("delete", "priorityclass", priority)
        }
        func quota() throws -> String { try up.k("get", "quota", "compute", "-n", ns, "--no-headers").stdout }
        #expect(try TestEnv.eventually(30) { try quota().contains("pods: 0/2") }, "\((try? quota()) ?? "")")

        // The LimitRange's defaults and the class's priority are on the pod, which runs.
        var r = try up.k(["apply", "-f", "-"], stdin: pod("web", namespace: ns, command: "sleep 3600", extra: "  priorityClassName: \(priority)"))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try TestEnv.eventually(60) { try up.k("get", "pod", "web", "-n", ns, "-o", "jsonpath={.status.phase}").stdout == "Running" },
                "\(up.log)")
        let resources = try up.k("get", "pod", "web", "-n", ns, "-o", "jsonpath={.spec.containers[0].resources}").stdout
        #expect(resources == #"{"limits":{"cpu":"200m","memory":"64Mi"},"requests":{"cpu":"100m","memory":"32Mi"}}"#, "\(resources)")
        #expect(try up.k("get", "pod", "web", "-n", ns, "-o", "jsonpath={.spec.priority} {.status.qosClass}").stdout == "5000 Burstable")
        #expect(try TestEnv.eventually(30) { try quota().contains("pods: 1/2, requests.cpu: 100m/1") && quota().contains("limits.memory: 64Mi/256Mi") },
                "\((try? quota()) ?? "")")

        // A pod that finished uses nothing: the controller gives its room back.
        r = try up.k(["apply", "-f", "-"], stdin: pod("once", namespace: ns, command: "true"))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try TestEnv.eventually(60) { try up.k("get", "pod", "once", "-n", ns, "-o", "jsonpath={.status.phase}").stdout == "Succeeded" })
        #expect(try TestEnv.eventually(30) { try quota().contains("pods: 1/2") }, "\((try? quota()) ?? "")")

        // Full: the next pod is refused by the quota, in Kubernetes' words.
        r = try up.k(["apply", "-f", "-"], stdin: pod("second", namespace: ns, command: "sleep 3600"))
        #expect(r.status == 0, "\(r.stderr)")
        r = try up.k(["apply", "-f", "-"], stdin: pod("third", namespace: ns, command: "sleep 3600"))
        #expect(r.status != 0)
        #expect(r.stderr.contains(#"pods "third" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2"#), "\(r.stderr)")
        let described = try up.k("describe", "quota", "compute", "-n", ns).stdout
        #expect(described.contains("pods           2      2") && described.contains("requests.cpu   200m   1"), "\(described)")
    }
}
