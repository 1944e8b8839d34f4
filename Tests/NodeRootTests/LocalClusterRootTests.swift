// hack/local-cluster.sh: a master and two node hosts in their own network namespaces. A
// 4-replica Deployment spreads over both; its Service answers from both nodes (every pod
// reached), a NodePort on both node addresses, and pods reach pods on the other node.
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
    @Test func twoNodeHostsServeOneService() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let dir = try TestEnv.makeTempDir("skiff-local")
        let net = String(100 + getpid() % 100)
        let env = "SKIFF_BIN_DIR=\(TestEnv.binDir) SKIFF_LOCAL_NET=\(net)"
        // Run, not capture: the cluster's daemons outlive the script, so its pipes would never close.
        let up = try TestEnv.run(["/bin/sh", "-c", "\(env) bash \(repo)/hack/local-cluster.sh up \(dir)/c >\(dir)/up.log 2>&1 </dev/null"])
        defer { _ = try? TestEnv.run(["/bin/sh", "-c", "\(env) bash \(repo)/hack/local-cluster.sh down \(dir)/c >/dev/null 2>&1"]); try? FileManager.default.removeItem(atPath: dir) }
        #expect(up == 0, "\((try? String(contentsOfFile: dir + "/up.log", encoding: .utf8)) ?? "")")
        let which = try TestEnv.capture(["/bin/sh", "-c", "readlink -f \"$(command -v kubectl)\""])
        let kubectl = (which.stdout.trimmingCharacters(in: .whitespacesAndNewlines) as NSString).deletingLastPathComponent + "/kubectl.1.33"
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
        // Pod to pod across nodes.
        guard let a = pods.first(where: { $0[1] == "node1" }), let b = pods.first(where: { $0[1] == "node2" }) else { return }
        let across = try k(["exec", a[0], "--", "wget", "-qO-", "http://\(b[2]):8080/"])
        #expect(across.stdout.contains("hello from \(b[0])"), "\(across)")
    }
}
