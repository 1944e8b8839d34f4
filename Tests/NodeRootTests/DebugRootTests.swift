// kubectl debug with an ephemeral container, end to end: kubectl 1.33 adds it through
// pods/ephemeralcontainers, the node starts it in the running pod in the target container's pid
// namespace, reports it in status.ephemeralContainerStatuses, and kubectl attaches to it (stdin
// piped, not a terminal).
import API
import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct DebugRootTests {
    @Test func kubectlDebugSharesTheTargetsProcesses() throws {
        let c = try Cluster()
        defer { c.stop() }
        let name = TestEnv.uniqueName("app")
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: \(name)}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          containers:
          - {name: main, image: busybox:test, command: ["sleep", "31337"]}
        """)
        #expect(try c.eventually { try c.pod(name)?.value(at: "status.phase") == "Running" })
        // PID 1 of the target's namespace is its `sleep 31337` (the typed text never holds it).
        let debug = try c.kubectl("1.33", ["debug", "-it", name, "--image=busybox:test", "--target=main", "--", "sh"],
                                  stdin: "tr '\\0' ' ' < /proc/1/cmdline; echo; echo done-$((6*7)); exit 0\n")
        #expect(debug.out.contains("sleep 31337"), "\(debug) \(c.nodeLog.suffix(2000))")
        #expect(debug.out.contains("done-42"), "\(debug)")
        let statuses = try c.pod(name)?["status"]?["ephemeralContainerStatuses"]?.arrayValue ?? []
        #expect(statuses.count == 1 && statuses.first?["name"]?.stringValue?.hasPrefix("debugger-") == true, "\(statuses)")
        #expect(try c.eventually { try c.exitCode(name, statuses: "ephemeralContainerStatuses") == 0 })
        // The app container goes on; the debugging one is not restarted.
        #expect(try c.pod(name)?.value(at: "status.phase") == "Running")
    }
}
