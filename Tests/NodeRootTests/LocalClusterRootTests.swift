// hack/local-cluster.sh: a master and two node hosts in their own network namespaces, with the
// proxies in either mode. A 4-replica Deployment spreads over both; its Service answers from
// both nodes (every pod reached), a NodePort on both node addresses; pods reach pods on the
// other node with their own source address, and leave the cluster masqueraded; when one node's
// agent stops, its pods are replaced on the other node while the Service keeps answering.
import API
import Client
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "builds network namespaces"))
struct LocalClusterRootTests {
    @Test(arguments: ["iptables", "nftables"])
    func twoNodeHostsServeOneService(proxyMode: String) throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let dir = try TestEnv.makeTempDir("skiff-local")
        let net = String(100 + getpid() % 100)
        let env = "SKIFF_BIN_DIR=\(TestEnv.binDir) SKIFF_LOCAL_NET=\(net) SKIFF_PROXY_MODE=\(proxyMode)"
        // Run, not capture: the cluster's daemons outlive the script, so its pipes would never close.
        let up = try TestEnv.run(["/bin/sh", "-c", "\(env) bash \(repo)/hack/local-cluster.sh up \(dir)/c >\(dir)/up.log 2>&1 </dev/null"])
        defer { _ = try? TestEnv.run(["/bin/sh", "-c", "\(env) bash \(repo)/hack/local-cluster.sh down \(dir)/c >/dev/null 2>&1"]); try? FileManager.default.removeItem(atPath: dir) }
        #expect(up == 0, "\((try? String(contentsOfFile: dir + "/up.log", encoding: .utf8)) ?? "")")
        let kubectl = try TestEnv.kubectl()
        func k(_ args: [String], stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
            try TestEnv.capture([kubectl, "--kubeconfig", dir + "/c/kubeconfig", "--cache-dir", dir + "/kcache"] + args, stdin: stdin)
        }
        func inNode(_ n: Int, _ url: String) -> String {
            ((try? TestEnv.capture(["/usr/sbin/ip", "netns", "exec", "skf\(net)-node\(n)", "/bin/busybox", "wget", "-qO-", url]).stdout) ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let manifest = try String(contentsOfFile: repo + "/examples/web.yaml", encoding: .utf8)
            .replacingOccurrences(of: "replicas: 3", with: "replicas: 4")
            .replacingOccurrences(of: "    targetPort: http", with: "    targetPort: http\n  type: NodePort")
        let applied = try k(["apply", "-f", "-"], stdin: manifest)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try k(["rollout", "status", "deployment/web", "--timeout=90s"]).status == 0)
        let pods = try k(["get", "pods", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP}{\"\\n\"}{end}"]).stdout
            .split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.filter { $0.count == 3 }
        #expect(pods.count == 4 && Set(pods.map { $0[1] }) == ["node1", "node2"], "\(pods)")
        let ip = try k(["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]).stdout
        let nodePort = try k(["get", "svc", "web", "-o", "jsonpath={.spec.ports[0].nodePort}"]).stdout
        for n in [1, 2] {
            var answered = Set<String>()
            for _ in 0..<60 where answered.count < 4 { let r = inNode(n, "http://\(ip)/"); if !r.isEmpty { answered.insert(r) } }
            #expect(answered.count == 4, "from node\(n): every pod answers behind the cluster IP: \(answered)")
            for address in ["172.30.\(net).2", "172.30.\(net).3"] {
                #expect(inNode(n, "http://\(address):\(nodePort)/").hasPrefix("hello from web-"), "NodePort \(address):\(nodePort) from node\(n)")
            }
        }
        // Pod to pod across nodes, with the pod's own source address (a CGI answers REMOTE_ADDR).
        guard let a = pods.first(where: { $0[1] == "node1" }), let b = pods.first(where: { $0[1] == "node2" }) else { return }
        let across = try k(["exec", a[0], "--", "wget", "-qO-", "http://\(b[2]):8080/"])
        #expect(across.stdout.contains("hello from \(b[0])"), "\(across)")
        // Pods on both nodes resolve Service names through the master's cluster DNS (kube-dns's IP via the proxy).
        for pod in [a[0], b[0]] {
            let lookup = try k(["exec", pod, "--", "nslookup", "web.default.svc.cluster.local"])
            #expect(lookup.stdout.contains("Address: \(ip)"), "\(pod): \(lookup.stdout) \(lookup.stderr)")
        }
        let whoami = """
        apiVersion: v1
        kind: Pod
        metadata: {name: whoami}
        spec:
          nodeName: node2
          containers:
          - name: c
            image: busybox:latest
            imagePullPolicy: IfNotPresent
            command: [sh, -c, "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 9000 -h /www"]
        """
        #expect(try k(["apply", "-f", "-"], stdin: whoami).status == 0)
        #expect(try k(["wait", "--for=condition=Ready", "pod/whoami", "--timeout=60s"]).status == 0)
        let whoamiIP = try k(["get", "pod", "whoami", "-o", "jsonpath={.status.podIP}"]).stdout
        var seenAs = ""
        for _ in 0..<20 where seenAs.isEmpty {
            seenAs = try k(["exec", a[0], "--", "wget", "-qO-", "http://\(whoamiIP):9000/cgi-bin/ip"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if seenAs.isEmpty { Thread.sleep(forTimeInterval: 0.5) }
        }
        // (httpd listens on IPv6 too: it writes an IPv4 peer as [::ffff:a.b.c.d].)
        #expect(seenAs == a[2] || seenAs == "[::ffff:\(a[2])]", "pod→pod across nodes is not masqueraded: seen as \(seenAs), pod is \(a[2])")
        // Leaving the cluster (the master on the underlay, which has no route back to pods): masqueraded,
        // or the connection would never complete.
        let out = try k(["exec", a[0], "--", "sh", "-c", "nc -w 3 172.30.\(net).1 6443 </dev/null; echo rc=$?"])
        #expect(out.stdout.contains("rc=0"), "\(out)")

        // A deleted pod leaves node1's rules within a second of leaving the EndpointSlice.
        let doomed = b[2]
        #expect(try k(["delete", "pod", b[0], "--wait=false"]).status == 0)
        let sliceDeadline = Date().addingTimeInterval(30)
        while Date() < sliceDeadline, try k(["get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[*].endpoints[*].addresses[*]}"]).stdout.contains(doomed) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let leftSlice = Date()
        let rules = proxyMode == "iptables" ? ["/usr/sbin/iptables-save", "-t", "nat"] : ["/usr/sbin/nft", "list", "map", "ip", "skiff-proxy", "endpoints"]
        var gone = false
        while !gone && Date().timeIntervalSince(leftSlice) < 5 {
            let now = (try? TestEnv.capture(["/usr/bin/nsenter", "--net=/var/run/netns/skf\(net)-node1"] + rules).stdout) ?? ""
            gone = !now.contains(proxyMode == "iptables" ? "\(doomed):8080" : "\(doomed) . 8080")
            if !gone { Thread.sleep(forTimeInterval: 0.02) }
        }
        #expect(gone && Date().timeIntervalSince(leftSlice) < 1, "node1's rules dropped \(doomed) \(Date().timeIntervalSince(leftSlice))s after its endpoint went")
        // (Its replacement comes up before the agent goes.)
        #expect(try k(["rollout", "status", "deployment/web", "--timeout=60s"]).status == 0)

        // node2's agent stops (its containers keep running): after the grace period its pods are
        // evicted and replaced on node1, and the Service answers throughout.
        let pids = try String(contentsOfFile: dir + "/c/pids", encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(pids.count == 5)   // master, node1 agent and proxy, node2 agent and proxy
        kill(pids[3], SIGKILL)
        var asked = 0, answered = 0, moved = false
        let deadline = Date().addingTimeInterval(120)
        while !moved && Date() < deadline {
            asked += 1
            if inNode(1, "http://\(ip)/").hasPrefix("hello from web-") { answered += 1 }
            // Pods not being deleted: "node ready" (a terminating one has a third field, its deletionTimestamp).
            let now = try k(["get", "pods", "-l", "app=web", "-o",
                             "jsonpath={range .items[*]}{.spec.nodeName} {.status.conditions[?(@.type==\"Ready\")].status} {.metadata.deletionTimestamp}{\"\\n\"}{end}"]).stdout
            let live = now.split(separator: "\n").map { $0.split(separator: " ") }.filter { $0.count == 2 }
            moved = live.count == 4 && live.allSatisfy { $0 == ["node1", "True"] }
            if !moved { Thread.sleep(forTimeInterval: 0.5) }
        }
        #expect(moved, "\((try? k(["get", "pods", "-o", "wide"]).stdout) ?? "")")
        #expect(answered >= asked * 9 / 10, "the Service kept answering while node2's pods moved: \(answered) of \(asked)")
        var after = Set<String>()
        for _ in 0..<60 where after.count < 4 { let r = inNode(1, "http://\(ip)/"); if !r.isEmpty { after.insert(r) } }
        #expect(after.count == 4, "all four pods on node1 answer: \(after)")
    }
}
