// The node server end to end: the real kubectl's logs and exec through `skiff master`'s proxy
// to `skiff node`, and the node's own endpoints (healthz, pods, stats, metrics).
import API
import Client
import Foundation
import Testing
import TestSupport

extension Cluster {
    /// kubectl (1.33: exec speaks the websocket protocol) against this cluster's master.
    func kubectl(_ args: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let binary = try TestEnv.kubectl()
        let r = try TestEnv.capture([binary, "--kubeconfig", "/dev/null", "-s", "http://127.0.0.1:\(port)", "--cache-dir", dir + "/kubectl-cache"] + args,
                                    stdin: stdin)
        return (r.status, r.stdout, r.stderr)
    }

    /// The node server's port, as the Node object reports it.
    func nodeServerPort() throws -> Int {
        Int(try api.get("/api/v1/nodes/\(nodeName)").json().value(at: "status.daemonEndpoints.kubeletEndpoint.Port")?.intValue ?? 0)
    }
}

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct NodeServerRootTests {
    @Test func kubectlLogsAndExecReachThePodThroughTheMaster() throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: shell}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          containers:
          - {name: main, image: busybox:test, command: ["sh", "-c", "echo first; echo second; echo oops >&2; sleep 1000"]}
          - {name: side, image: busybox:test, command: ["sleep", "1000"]}
        """)
        #expect(try c.eventually { try c.pod("shell")?.value(at: "status.phase") == "Running" })
        #expect(try c.eventually { try c.kubectl(["logs", "shell", "-c", "main"]).out.contains("oops") })

        let logs = try c.kubectl(["logs", "shell", "-c", "main"])
        #expect(logs.status == 0, "\(logs.err)")
        #expect(logs.out == "first\nsecond\noops\n", "\(logs.out)")
        let tail = try c.kubectl(["logs", "shell", "-c", "main", "--tail=1", "--timestamps"])
        #expect(tail.out.hasSuffix(" oops\n") && tail.out.split(separator: "\n").count == 1, "\(tail.out)")
        #expect(tail.out.hasPrefix("20"), "RFC 3339 timestamp first: \(tail.out)")
        let limited = try c.kubectl(["logs", "shell", "-c", "main", "--limit-bytes=3"])
        #expect(limited.out == "fir")
        let noContainer = try c.kubectl(["logs", "shell", "-c", "nope"])
        #expect(noContainer.status != 0 && noContainer.err.contains("nope"), "\(noContainer.err)")

        // exec: output, exit codes, stdin, the container chosen with -c, a missing command.
        let hello = try c.kubectl(["exec", "shell", "-c", "main", "--", "sh", "-c", "echo out $(hostname); echo err >&2"])
        #expect(hello.status == 0 && hello.out == "out shell\n" && hello.err.contains("err"), "\(hello)")
        let failing = try c.kubectl(["exec", "shell", "-c", "main", "--", "sh", "-c", "exit 3"])
        #expect(failing.status == 3, "\(failing)")
        let piped = try c.kubectl(["exec", "-i", "shell", "-c", "side", "--", "sh", "-c", "tr a-z A-Z"], stdin: "piped input\n")
        #expect(piped.out == "PIPED INPUT\n", "\(piped)")
        let sameNet = try c.kubectl(["exec", "shell", "-c", "side", "--", "readlink", "/proc/self/ns/net"])
        let mainNet = try c.kubectl(["exec", "shell", "-c", "main", "--", "readlink", "/proc/self/ns/net"])
        #expect(sameNet.out == mainNet.out && !sameNet.out.isEmpty, "exec joins the pod's network namespace")
        let missing = try c.kubectl(["exec", "shell", "-c", "main", "--", "/no/such/binary"])
        #expect(missing.status != 0, "\(missing)")
        let noPod = try c.kubectl(["exec", "ghost", "--", "true"])
        #expect(noPod.status != 0 && noPod.err.contains("not found"), "\(noPod.err)")

        // skiffctl speaks the same protocol.
        let skiffctl = { (args: [String], stdin: String?) in
            try TestEnv.capture([TestEnv.binDir + "/skiffctl", args[0], "--server", "http://127.0.0.1:\(c.port)"] + args.dropFirst(), stdin: stdin)
        }
        let ctlLogs = try skiffctl(["logs", "shell", "-c", "main", "--tail", "1"], nil)
        #expect(ctlLogs.stdout == "oops\n", "\(ctlLogs)")
        let ctlExec = try skiffctl(["exec", "-i", "shell", "-c", "side", "--", "sh", "-c", "cat; exit 4"], "from skiffctl\n")
        #expect(ctlExec.status == 4 && ctlExec.stdout == "from skiffctl\n", "\(ctlExec)")

        // logs -f follows until the container exits.
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: counter}
        spec:
          nodeName: \(c.nodeName)
          restartPolicy: Never
          containers: [{name: c, image: busybox:test, command: ["sh", "-c", "for i in 1 2 3 4; do echo tick $i; sleep 0.3; done"]}]
        """)
        #expect(try c.eventually { try c.pod("counter")?.value(at: "status.phase") == "Running" })
        let followed = try c.kubectl(["logs", "-f", "counter", "--request-timeout=20s"])
        #expect(followed.status == 0 && followed.out.hasSuffix("tick 3\ntick 4\n"), "\(followed)")

        // The node server's own endpoints.
        let port = try c.nodeServerPort()
        #expect(port > 0)
        let node = try APIClient(server: "http://127.0.0.1:\(port)")
        #expect(try node.get("/healthz").text == "ok")
        let pods = try node.get("/pods").json()
        #expect(pods["items"]?.arrayValue?.contains { $0.value(at: "metadata.name") == "shell" } == true)
        _ = try node.get("/stats/summary")
        let summary = try node.get("/stats/summary").json()
        let shell = summary["pods"]?.arrayValue?.first { $0.value(at: "podRef.name") == "shell" }
        let main = shell?["containers"]?.arrayValue?.first { $0["name"] == "main" }
        #expect((main?.value(at: "memory.workingSetBytes")?.intValue ?? 0) > 0, "\(summary.jsonString)")
        #expect(main?.value(at: "cpu.usageCoreNanoSeconds") != nil)
        #expect(main?.value(at: "cpu.usageNanoCores") != nil, "the second reading has a rate")
        #expect((summary.value(at: "node.memory.workingSetBytes")?.intValue ?? 0) > 0)
        let cadvisor = try node.get("/metrics/cadvisor").text
        #expect(cadvisor.contains("container_memory_working_set_bytes{container=\"main\""), "\(cadvisor.prefix(400))")
        #expect(cadvisor.contains("pod=\"shell\""))
        let metrics = try node.get("/metrics").text
        #expect(metrics.contains("kubelet_running_containers{container_state=\"running\"} 2"), "\(metrics)")
        #expect(try node.get("/nope").code == 404)

        for name in ["shell", "counter"] { _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/\(name)") }
        #expect(try c.eventually(20) { try c.containers().isEmpty })
    }
}
