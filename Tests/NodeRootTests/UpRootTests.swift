// `skiff up` brings master, node and proxy up in one process: the examples apply and their
// Service answers on its cluster IP, from each of the three replicas. With --tls (as off
// loopback) the kubeconfig it writes is the admin one and logs come through the node server's TLS.
import API
import Client
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs the whole cluster"))
struct UpRootTests {
    @Test(arguments: [false, true])
    func upRunsTheExamples(tls: Bool) throws {
        let dir = try TestEnv.makeTempDir("skiff-up")
        let cgroupRoot = TestEnv.uniqueName("skiffup")
        let skiff = TestEnv.binDir + "/skiff"
        _ = try TestEnv.capture([skiff, "image", "import", "--root", dir + "/node", try TestEnv.busyboxImageLayout(), "--tag", "busybox:latest"])
        let up = Process()
        up.executableURL = URL(fileURLWithPath: "/bin/sh")
        up.arguments = ["-c", "exec \"$0\" up \(tls ? "--tls " : "")--listen 127.0.0.1:0 --dns-port 0 --data-dir \(dir)/master --root-dir \(dir)/node --cgroup-root \(cgroupRoot) --address 127.0.0.1 --port 0 --node-ip 127.0.0.1 --cni-conf-dir \(dir)/node/cni-conf --cluster-cidr 10.\(100 + getpid() % 40).0.0/16 --kubeconfig \(dir)/kubeconfig 2>>\(dir)/up.log", skiff]
        try up.run()
        defer {
            kill(up.processIdentifier, SIGKILL); up.waitUntilExit()
            let ids = (try? TestEnv.capture([skiff, "ps", "-q", "--root", dir + "/node"]).stdout) ?? ""
            for id in ids.split(separator: "\n") { _ = try? TestEnv.capture([skiff, "rm", "-f", "--root", dir + "/node", String(id)]) }
            Cluster.removePodNetworks(rootDir: dir + "/node")
            _ = try? TestEnv.capture([skiff, "proxy", "--cleanup"])
            for c in ["memory", "cpu", "pids", "unified"] { Cluster.removeCgroupTree("/sys/fs/cgroup/\(c)/\(cgroupRoot)") }
            Cluster.unmountAll(under: dir)
            try? FileManager.default.removeItem(atPath: dir)
        }
        let which = try TestEnv.capture(["/bin/sh", "-c", "readlink -f \"$(command -v kubectl)\""])
        let kubectl = (which.stdout.trimmingCharacters(in: .whitespacesAndNewlines) as NSString).deletingLastPathComponent + "/kubectl.1.33"
        func k(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) {
            try TestEnv.capture([kubectl, "--kubeconfig", dir + "/kubeconfig", "--cache-dir", dir + "/kcache"] + args)
        }
        var nodes = ""
        let ready = try (0..<100).contains { _ in
            nodes = (try? k("get", "nodes").stdout) ?? ""
            if nodes.contains(" Ready") { return true }
            usleep(200_000); return false
        }
        #expect(ready, "\(nodes) \((try? String(contentsOfFile: dir + "/up.log", encoding: .utf8)) ?? "")")
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/examples"
        let applied = try k("apply", "-f", examples)
        #expect(applied.status == 0, "\(applied.stderr)")
        let rolled = try k("rollout", "status", "deployment/web", "--timeout=90s")
        #expect(rolled.status == 0, "\(rolled)")
        let ip = try k("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}").stdout
        var answers = Set<String>()
        // Up to 30 s: a proxy another test starts in the other mode clears this one's rules until its
        // canary (every 10 s) rewrites them.
        let deadline = Date().addingTimeInterval(30)
        while answers.count < 3 && Date() < deadline {
            let r = try TestEnv.capture(["/bin/busybox", "wget", "-qO-", "http://\(ip)/"])
            if r.status == 0 { answers.insert(r.stdout) } else { usleep(100_000) }
        }
        if tls {
            #expect((try FileManager.default.attributesOfItem(atPath: dir + "/kubeconfig")[.posixPermissions] as? Int) == 0o600)
            let logs = try k("exec", "deployment/web", "--", "cat", "/www/index.html")
            #expect(logs.status == 0 && logs.stdout.hasPrefix("hello from web-"), "\(logs)")
        }
        #expect(answers.count == 3, "all three replicas answer behind the service: \(answers) \(ip) \((try? k("get", "endpoints", "-o", "wide").stdout) ?? "") \((try? String(contentsOfFile: dir + "/up.log", encoding: .utf8)) ?? "")")
    }
}
