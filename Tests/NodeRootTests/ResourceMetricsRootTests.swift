// The metrics pipeline against a real agent (`skiff up`, kubectl 1.33): a pod that writes 60 MB
// into a memory-backed emptyDir (tmpfs pages are charged to its cgroup) shows at least 50Mi in
// `kubectl top pods`, a pod spinning on a CPU shows in the CPU column, and the node shows non-zero
// CPU. The master scrapes the agent's /stats/summary every 2 s, over mutual TLS when secured.
import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs the whole cluster"))
struct ResourceMetricsRootTests {
    static let manifest = """
    apiVersion: v1
    kind: Pod
    metadata: {name: hog, labels: {app: hog}}
    spec:
      terminationGracePeriodSeconds: 1
      volumes:
      - {name: scratch, emptyDir: {medium: Memory, sizeLimit: 100Mi}}
      containers:
      - name: fill
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        volumeMounts: [{name: scratch, mountPath: /scratch}]
        command: ["sh", "-c", "dd if=/dev/zero of=/scratch/blob bs=1M count=60 && echo filled && sleep 3600"]
      - name: spin
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "while :; do :; done"]
    """

    /// Plain, and secured (the scrapes then use the master's kubelet-client certificate, as logs and exec do).
    @Test(arguments: [false, true])
    func topShowsARealPodsMemoryAndCPU(tls: Bool) throws {
        let up = try SkiffUp(name: "skiff-metrics", tls: tls, extraArgs: ["--metric-resolution", "2s"])
        defer { up.stop() }
        #expect(try up.k(["apply", "-f", "-"], stdin: Self.manifest).status == 0)
        let ready = try up.k("wait", "--for=condition=Ready", "pod/hog", "--timeout=60s")
        #expect(ready.status == 0, "\(ready) \(up.log)")
        #expect(try TestEnv.eventually(30) { try up.k("logs", "hog", "-c", "fill").stdout.contains("filled") })

        // Two scrapes after the write, the working set holds the 60 MB.
        var rows: [[String]] = []
        let seen = try TestEnv.eventually(30) {
            rows = try up.k("top", "pods", "--containers", "--no-headers").stdout.split(separator: "\n")
                .map { $0.split(separator: " ").map(String.init) }
            return (rows.first { $0.prefix(2) == ["hog", "fill"] }.flatMap { Self.mebibytes($0[3]) } ?? 0) >= 50
        }
        #expect(seen, "kubectl top pods --containers: \(rows) \(up.log)")
        let spin = rows.first { $0.prefix(2) == ["hog", "spin"] }
        #expect(spin.flatMap { Self.millicores($0[2]) } ?? 0 >= 300, "a busy loop uses most of a core: \(rows)")
        let pod = try up.k("top", "pod", "hog", "--no-headers").stdout.split(whereSeparator: \.isWhitespace).map(String.init)
        #expect(pod.count == 3 && (Self.mebibytes(pod[2]) ?? 0) >= 50, "\(pod)")

        let node = try up.k("top", "nodes", "--no-headers").stdout.split(whereSeparator: \.isWhitespace).map(String.init)
        #expect(node.count == 5 && (Self.millicores(node[1]) ?? 0) > 0 && (Self.mebibytes(node[3]) ?? 0) > 0, "\(node)")
        let raw = try up.k("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/hog").stdout
        #expect(raw.contains(#""kind":"PodMetrics""#) && raw.contains(#""name":"fill""#), "\(raw)")
        #expect(try up.k("delete", "pod", "hog", "--wait=false").status == 0)
    }

    /// "61Mi" → 61, "1024Mi" → 1024, "2Gi" → 2048.
    static func mebibytes(_ cell: String) -> Int? {
        if cell.hasSuffix("Mi") { return Int(cell.dropLast(2)) }
        if cell.hasSuffix("Gi") { return Int(cell.dropLast(2)).map { $0 * 1024 } }
        return nil
    }

    /// "350m" → 350, "2" → 2000.
    static func millicores(_ cell: String) -> Int? {
        cell.hasSuffix("m") ? Int(cell.dropLast()) : Int(cell).map { $0 * 1000 }
    }
}
