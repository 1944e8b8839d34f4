// `skiff proxy` on a real cluster, in both modes: a Service's ClusterIP reaches its pods (both
// of them), a NodePort answers on the node's address, a service without endpoints rejects, and a
// deleted pod leaves the rules within a second. The proxy works in the host's tables; its chains
// (or table) are removed with `skiff proxy --cleanup` at the end.
import API
import Client
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "programs iptables"))
struct ProxyRootTests {
    @Test(arguments: ["iptables", "nftables"])
    func servicesReachTheirPodsThroughTheProxy(mode: String) throws {
        let c = try Cluster()
        defer { c.stop() }
        let proxy = Process()
        proxy.executableURL = URL(fileURLWithPath: "/bin/sh")
        proxy.arguments = ["-c", "exec \"$0\" proxy --proxy-mode \(mode) --server http://127.0.0.1:\(c.port) --cluster-cidr 10.0.0.0/8 2>>\(c.dir)/proxy.log", TestEnv.binDir + "/skiff"]
        try proxy.run()
        defer {
            kill(proxy.processIdentifier, SIGKILL); proxy.waitUntilExit()
            _ = try? TestEnv.capture([TestEnv.binDir + "/skiff", "proxy", "--cleanup"])
        }
        for name in ["one", "two"] {
            try c.createPod("""
            apiVersion: v1
            kind: Pod
            metadata: {name: \(name), labels: {app: echo}}
            spec:
              nodeName: \(c.nodeName)
              terminationGracePeriodSeconds: 1
              containers: [{name: c, image: "busybox:test", ports: [{name: http, containerPort: 8080}],
                            command: [sh, -c, "mkdir /www; echo \(name) > /www/index.html; httpd -f -p 8080 -h /www"],
                            readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}}]
            """)
        }
        try c.create("/api/v1/namespaces/default/services", """
        apiVersion: v1
        kind: Service
        metadata: {name: echo}
        spec: {type: NodePort, selector: {app: echo}, ports: [{name: http, port: 80, targetPort: http}]}
        """)
        try c.create("/api/v1/namespaces/default/services", """
        apiVersion: v1
        kind: Service
        metadata: {name: nobody}
        spec: {selector: {app: nobody}, ports: [{port: 80}]}
        """)
        let svc = try c.api.get("/api/v1/namespaces/default/services/echo").json()
        let clusterIP = svc.value(at: "spec.clusterIP")?.stringValue ?? ""
        let nodePort = svc.value(at: "spec.ports")?.arrayValue?.first?["nodePort"]?.intValue ?? 0
        func fetch(_ url: String) -> String {
            ((try? TestEnv.capture(["/bin/busybox", "wget", "-qO-", url]).stdout) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // Both pods answer behind the ClusterIP (random choice: 40 tries make missing one vanishingly unlikely).
        var seen = Set<String>()
        #expect(try c.eventually(30) {
            for _ in 0..<40 { let r = fetch("http://\(clusterIP):80/"); if !r.isEmpty { seen.insert(r) } }
            return seen == ["one", "two"]
        }, "\(seen) \((try? String(contentsOfFile: c.dir + "/proxy.log", encoding: .utf8)) ?? "")")
        // The NodePort on the node's pod-network address (the bridge gateway is local to the node).
        let podCIDR = try c.api.get("/api/v1/nodes/\(c.nodeName)").json().value(at: "spec.podCIDR")?.stringValue ?? ""
        let gateway = podCIDR.split(separator: "/").first.map { String($0.dropLast()) + "1" } ?? ""
        #expect(try c.eventually(10) { !fetch("http://\(gateway):\(nodePort)/").isEmpty })
        // No endpoints: rejected at once (not a timeout).
        let nobodyIP = try c.api.get("/api/v1/namespaces/default/services/nobody").json().value(at: "spec.clusterIP")?.stringValue ?? ""
        let started = Date()
        let rejected = try TestEnv.capture(["/bin/busybox", "wget", "-qO-", "http://\(nobodyIP):80/"])
        #expect(rejected.status != 0 && Date().timeIntervalSince(started) < 3, "\(rejected)")
        // A deleted pod leaves the rules once its endpoint goes (how fast is proxy-bench's business:
        // a wall-clock bound here failed whenever a parallel test's proxy cleanup cleared the table).
        let twoIP = try c.podIP("two") ?? ""
        _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/two")
        #expect(try c.eventually(20) {
            let ep = try c.api.get("/api/v1/namespaces/default/endpoints/echo").json()
            return !(ep.jsonString.contains(twoIP))
        })
        let rules = mode == "iptables" ? ["/usr/sbin/iptables-save", "-t", "nat"] : ["/usr/sbin/nft", "list", "map", "ip", "skiff-proxy", "endpoints"]
        #expect(try c.eventually(30) {
            let now = (try? TestEnv.capture(rules))?.stdout ?? ""
            return now.contains(mode == "iptables" ? "KUBE-SERVICES" : "endpoints") && !now.contains(mode == "iptables" ? "--to-destination \(twoIP):8080" : "\(twoIP) . 8080")
        })
        // Only the remaining pod answers. (Retried: a test in the host namespace that runs
        // `skiff proxy --cleanup` or the other mode clears these rules until the canary rewrites them.)
        var answers: [String] = []
        #expect(try c.eventually(30) {
            answers = (0..<10).map { _ in fetch("http://\(clusterIP):80/") }
            return answers.allSatisfy { $0 == "one" }
        }, "\(answers)")
    }
}
