// `skiff up` for a root test: master and node (and the proxy if asked) in one process with the
// test's own data directory, cgroup root and cluster CIDR, busybox imported, and kubectl 1.33
// pointed at it. The proxy is off unless a test needs Service IPs: it programs the host's tables,
// which every cluster on the host shares, so parallel clusters' proxies would clear each other's
// rules (and ProxyRootTests'). stop() takes down what the cluster left: containers, pod networks,
// proxy rules, cgroups, mounts.
import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

final class SkiffUp {
    let dir: String
    let cgroupRoot = TestEnv.uniqueName("skiffup")
    let skiff = TestEnv.binDir + "/skiff"
    let kubectl: String
    let proxy: Bool
    private let process = Process()

    /// Starts the cluster and waits (up to 20 s) for its node to be Ready; `extraArgs` go to `skiff up`.
    init(name: String, tls: Bool = false, proxy: Bool = false, extraArgs: [String] = []) throws {
        self.proxy = proxy
        dir = try TestEnv.makeTempDir(name)
        kubectl = try TestEnv.kubectl()
        _ = try TestEnv.capture([skiff, "image", "import", "--root", dir + "/node", try TestEnv.busyboxImageLayout(), "--tag", "busybox:latest"])
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec \"$0\" up \(tls ? "--tls " : "")\(proxy ? "" : "--no-proxy ")--listen 127.0.0.1:0 --dns-port 0 --data-dir \(dir)/master --root-dir \(dir)/node --cgroup-root \(cgroupRoot) --address 127.0.0.1 --port 0 --node-ip 127.0.0.1 --cni-conf-dir \(dir)/node/cni-conf --cluster-cidr \(Cluster.nextClusterCIDR()) --kubeconfig \(dir)/kubeconfig \(extraArgs.joined(separator: " ")) 2>>\(dir)/up.log", skiff]
        try process.run()
        var nodes = ""
        for _ in 0..<100 {
            nodes = (try? k("get", "nodes").stdout) ?? ""
            if nodes.contains(" Ready") { return }
            usleep(200_000)
        }
        stop()
        throw TestSupportError("skiff up's node never became Ready: \(nodes) \(log)")
    }

    var log: String { (try? String(contentsOfFile: dir + "/up.log", encoding: .utf8)) ?? "" }

    func k(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) { try k(args) }

    func k(_ args: [String], stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        try TestEnv.capture([kubectl, "--kubeconfig", dir + "/kubeconfig", "--cache-dir", dir + "/kcache"] + args, stdin: stdin)
    }

    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let ids = (try? TestEnv.capture([skiff, "ps", "-q", "--root", dir + "/node"]).stdout) ?? ""
        for id in ids.split(separator: "\n") { _ = try? TestEnv.capture([skiff, "rm", "-f", "--root", dir + "/node", String(id)]) }
        Cluster.removePodNetworks(rootDir: dir + "/node")
        if proxy { _ = try? TestEnv.capture([skiff, "proxy", "--cleanup"]) }
        Cluster.removeCgroupRoot(cgroupRoot)
        Cluster.unmountAll(under: dir)
        try? FileManager.default.removeItem(atPath: dir)
    }
}
