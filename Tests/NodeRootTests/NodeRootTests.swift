// A real master and a real node agent on this machine (root: the node runs containers).
import API
import Client
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `skiff master` + `skiff node` with their own data dirs, cgroup root and the busybox image.
final class Cluster: @unchecked Sendable {
    let master = Process()
    var node = Process()
    let dir: String
    let nodeName: String
    let cgroupRoot: String
    var port = 0
    var api: APIClient!
    /// Extra `skiff node` flags (e.g. --manifests) and the API URL it is given (default: the master's).
    var nodeArgs = ""
    var nodeServer: String?
    /// The agent's --sync-frequency (volume refreshes), seconds.
    var syncFrequency = 1
    /// This cluster's pod address range (the master's and every node's --cluster-cidr).
    let clusterCIDR = Cluster.nextClusterCIDR()

    init(startNode: Bool = true, masterArgs: [String] = []) throws {
        dir = try TestEnv.makeTempDir("skiff-cluster")
        nodeName = TestEnv.uniqueName("node")
        cgroupRoot = TestEnv.uniqueName("skiffpods")
        let skiff = TestEnv.binDir + "/skiff"
        master.executableURL = URL(fileURLWithPath: skiff)
        // Clusters of one test run share the host: each gets its own pod address range.
        master.arguments = ["master", "--listen", "127.0.0.1:0", "--dns-port", "0", "--data-dir", dir + "/master", "--cluster-cidr", clusterCIDR] + masterArgs
        let err = Pipe()
        master.standardError = err
        try master.run()
        var line: [UInt8] = []
        while true {
            let b = err.fileHandleForReading.readData(ofLength: 1)
            if b.isEmpty || b.first == 0x0a { break }
            line.append(b.first!)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let r = text.range(of: "http://127.0.0.1:"), let p = Int(text[r.upperBound...].prefix { $0.isNumber }) else {
            throw ClientError("master did not start: \(text)")
        }
        port = p
        api = try APIClient(server: "http://127.0.0.1:\(p)")
        let imported = try TestEnv.capture([skiff, "image", "import", "--root", dir + "/node", try TestEnv.busyboxImageLayout(), "--tag", "busybox:latest"])
        guard imported.status == 0 else { throw ClientError("image import failed: \(imported.stderr)") }
        // A non-latest tag too: its default pull policy is IfNotPresent (no registry needed).
        _ = try TestEnv.capture([skiff, "image", "import", "--root", dir + "/node", try TestEnv.busyboxImageLayout(), "--tag", "busybox:test"])
        if startNode { try self.startNode() }
    }

    func startNode() throws {
        node = Process()
        node.executableURL = URL(fileURLWithPath: "/bin/sh")
        // exec: the process is the agent itself (kill -9 reaches it); its log appends to node.log.
        node.arguments = ["-c", "exec \"$0\" node --server \(nodeServer ?? "http://127.0.0.1:\(port)") \(nodeArgs) --name \(nodeName) --root-dir \(dir)/node --cgroup-root \(cgroupRoot) --address 127.0.0.1 --port 0 --node-ip 127.0.0.1 --sync-frequency \(syncFrequency) --cni-conf-dir \(dir)/node/cni-conf --cluster-cidr \(clusterCIDR) 2>>\(dir)/node.log",
                          TestEnv.binDir + "/skiff"]
        try node.run()
    }

    func killNode() {
        kill(node.processIdentifier, SIGKILL)
        node.waitUntilExit()
    }

    func containers() throws -> [String] {
        let r = try TestEnv.capture([TestEnv.binDir + "/skiff", "ps", "--root", dir + "/node"])
        return r.stdout.split(separator: "\n").dropFirst().map(String.init)
    }

    func createPod(_ yaml: String) throws {
        let r = try api.request("POST", "/api/v1/namespaces/default/pods", body: Array(yaml.utf8), contentType: "application/yaml")
        guard r.code == 201 else { throw ClientError("create pod: \(r.errorMessage)") }
    }

    func pod(_ name: String) throws -> JSONValue? {
        let r = try api.get("/api/v1/namespaces/default/pods/\(name)")
        return r.code == 200 ? try r.json() : nil
    }

    /// Polls until `check` holds (or the timeout passes); returns whether it did.
    func eventually(_ seconds: Double = 20, _ check: () throws -> Bool) rethrows -> Bool {
        try TestEnv.eventually(seconds, check)
    }

    /// The node agent's log (for failure messages).
    var nodeLog: String { (try? String(contentsOfFile: dir + "/node.log", encoding: .utf8)) ?? "" }

    func stop() {
        if node.isRunning { kill(node.processIdentifier, SIGKILL); node.waitUntilExit() }
        // Whatever the node left: containers (monitors), mounts, cgroups.
        if let list = try? containers() {
            for line in list {
                if let id = line.split(separator: " ").first {
                    _ = try? TestEnv.capture([TestEnv.binDir + "/skiff", "rm", "-f", "--root", dir + "/node", String(id)])
                }
            }
        }
        Cluster.removePodNetworks(rootDir: dir + "/node")
        if master.isRunning { master.terminate(); master.waitUntilExit() }
        Self.removeCgroupRoot(cgroupRoot)
        Self.unmountAll(under: dir)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// tmpfs volumes (service account tokens, secrets) of pods the node did not get to clean up.
    static func unmountAll(under dir: String) {
        for line in TestEnv.mountinfo().split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 4, fields[4].hasPrefix(dir + "/") { umount2(String(fields[4]), Int32(MNT_DETACH)) }
        }
    }

    deinit { stop() }

    private static let cidrLock = NSLock()
    nonisolated(unsafe) private static var cidrCounter = Int(getpid() % 50)
    static func nextClusterCIDR() -> String {
        cidrLock.lock(); defer { cidrLock.unlock() }
        cidrCounter += 1
        return "10.\(150 + cidrCounter % 100).0.0/16"
    }

    /// What CNI left for pods whose DEL never ran (the test killed the agent): the bridge plugin's
    /// nat rules (tagged with the pod's id), the agent's masquerade rule and the node's bridge.
    static func removePodNetworks(rootDir: String) {
        let ids = ((try? FileManager.default.contentsOfDirectory(atPath: rootDir + "/pods")) ?? [])
        // Also any rule for an address of this node's pod range (a pod whose directory is gone).
        var prefixes: [String] = []
        for conf in ((try? FileManager.default.contentsOfDirectory(atPath: rootDir + "/cni-conf")) ?? []) {
            if let data = FileManager.default.contents(atPath: rootDir + "/cni-conf/" + conf), let list = try? JSONValue.parse(Array(data)),
               let subnet = list["plugins"]?.arrayValue?.first?["ipam"]?["ranges"]?.arrayValue?.first?.arrayValue?.first?["subnet"]?.stringValue {
                prefixes.append("-s " + subnet.split(separator: ".").prefix(3).joined(separator: ".") + ".")
            }
        }
        let saved = (try? TestEnv.capture(["/usr/sbin/iptables-save", "-t", "nat"]).stdout) ?? ""
        var payload = "*nat\n", chains = Set<String>()
        for line in saved.split(separator: "\n") where line.hasPrefix("-A POSTROUTING ") && (line.contains("name: \\\"skiff\\\"")
            && (ids.contains(where: { line.contains("id: \\\"\($0)\\\"") }) || prefixes.contains(where: { line.contains($0) }))
            || line.contains("skiff: masquerade pod traffic") && prefixes.contains(where: { line.contains($0) })) {   // the agent's own
            payload += "-D" + line.dropFirst(2) + "\n"
            let parts = line.split(separator: " ")
            if let j = parts.firstIndex(of: "-j"), j + 1 < parts.count { chains.insert(String(parts[j + 1])) }
        }
        for c in chains where c.hasPrefix("CNI-") { payload += "-F \(c)\n-X \(c)\n" }
        if payload.count > 6 { _ = try? TestEnv.capture(["/usr/sbin/iptables-restore", "--noflush"], stdin: payload + "COMMIT\n") }
        for conf in ((try? FileManager.default.contentsOfDirectory(atPath: rootDir + "/cni-conf")) ?? []) {
            guard let data = FileManager.default.contents(atPath: rootDir + "/cni-conf/" + conf),
                  let list = try? JSONValue.parse(Array(data)),
                  let bridge = list["plugins"]?.arrayValue?.first?["bridge"]?.stringValue else { continue }
            _ = try? TestEnv.capture(["/usr/sbin/ip", "link", "del", bridge])
        }
    }

    /// A node's cgroup root in every hierarchy it makes one in. (cpuacct is its own v1 hierarchy on
    /// hosts like CI's, not a link to cpu: leaving it out leaked the QoS directories.)
    static func removeCgroupRoot(_ root: String) {
        for controller in ["memory", "cpu", "cpuacct", "pids", "unified"] { removeCgroupTree("/sys/fs/cgroup/\(controller)/\(root)") }
    }

    /// rmdir bottom-up (cgroup directories can't be removed with their children).
    static func removeCgroupTree(_ path: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isDir), isDir.boolValue {
                removeCgroupTree(path + "/" + name)
            }
        }
        _ = rmdir(path)
    }

    /// Pod cgroups (pod<uid> directories) left in the memory hierarchy under our root.
    func podCgroups() -> [String] {
        var out: [String] = []
        func walk(_ path: String) {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isDir), isDir.boolValue else { continue }
                if name.hasPrefix("pod") { out.append(path + "/" + name) }
                walk(path + "/" + name)
            }
        }
        walk("/sys/fs/cgroup/memory/\(cgroupRoot)")
        return out
    }

    /// Processes whose command line names this node's state (monitors, pause processes).
    func podProcesses() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid -> String? in
            guard Int32(pid) != nil, Int32(pid) != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let cmd = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return cmd.contains(dir + "/node/") && !cmd.hasPrefix(TestEnv.binDir + "/skiff node") ? cmd : nil
        }
    }

    /// App containers (not pod sandboxes) the node's runtime has.
    func appContainers() throws -> [String] { try containers().filter { !$0.contains("k8s_POD_") } }

    /// A container's output, through `skiff logs` on the node's state.
    func logs(_ pod: String, _ container: String, attempt: Int = 0) throws -> String {
        guard let uid = try self.pod(pod)?.value(at: "metadata.uid")?.stringValue else { return "" }
        let name = "k8s_\(container)_\(pod)_default_\(uid.prefix(8))_\(attempt)"
        return try TestEnv.capture([TestEnv.binDir + "/skiff", "logs", "--root", dir + "/node", name]).stdout
    }
}

func podYAML(_ name: String, node: String, command: String, restartPolicy: String = "Always") -> String {
    """
    apiVersion: v1
    kind: Pod
    metadata: {name: \(name)}
    spec:
      nodeName: \(node)
      restartPolicy: \(restartPolicy)
      terminationGracePeriodSeconds: 2
      containers:
      - name: c
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "\(command)"]
    """
}

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct NodeRootTests {
    @Test func nodeRegistersAndRunsPodsThroughTheirLifecycle() throws {
        let c = try Cluster()
        defer { c.stop() }
        // Registration, Ready condition, lease.
        #expect(try c.eventually { try c.api.get("/api/v1/nodes/\(c.nodeName)").code == 200 })
        let node = try c.api.get("/api/v1/nodes/\(c.nodeName)").json()
        #expect(node["status"]?["conditions"]?.arrayValue?.contains { $0["type"] == "Ready" && $0["status"] == "True" } == true)
        #expect(node.value(at: "status.capacity.pods") == "110")
        #expect(try c.eventually { try c.api.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/\(c.nodeName)").code == 200 })

        // A long-running pod becomes Running with a running container.
        try c.createPod(podYAML("web", node: c.nodeName, command: "echo hi; sleep 1000"))
        #expect(try c.eventually { try c.pod("web")?.value(at: "status.phase") == "Running" })
        let running = try c.pod("web")
        #expect(running?["status"]?["containerStatuses"]?.arrayValue?.first?["ready"] == true)
        #expect(running?["status"]?["containerStatuses"]?.arrayValue?.first?["imageID"]?.stringValue?.hasPrefix("docker.io/library/busybox@sha256:") == true)
        #expect(try c.appContainers().count == 1)
        #expect(try c.containers().filter { $0.contains("k8s_POD_web_") }.count == 1)
        let containerID = running?["status"]?["containerStatuses"]?.arrayValue?.first?["containerID"]?.stringValue

        // A pod that exits 3 with restartPolicy Never: Failed, exit code reported.
        try c.createPod(podYAML("once", node: c.nodeName, command: "exit 3", restartPolicy: "Never"))
        #expect(try c.eventually { try c.pod("once")?.value(at: "status.phase") == "Failed" })
        let failed = try c.pod("once")?["status"]?["containerStatuses"]?.arrayValue?.first
        #expect(failed?.value(at: "state.terminated.exitCode") == 3,
                "\((try? c.api.get("/api/v1/namespaces/default/events").text) ?? "") \((try? c.containers()) ?? []) \(c.nodeLog)")
        #expect(failed?.value(at: "state.terminated.reason") == "Error")
        try c.createPod(podYAML("ok", node: c.nodeName, command: "true", restartPolicy: "OnFailure"))
        #expect(try c.eventually { try c.pod("ok")?.value(at: "status.phase") == "Succeeded" })

        // The agent killed with -9 and restarted re-adopts the running container: no restart, no duplicate.
        // A container that exits while the agent is down is reported with its real exit code.
        try c.createPod(podYAML("meanwhile", node: c.nodeName, command: "sleep 2; exit 7", restartPolicy: "Never"))
        #expect(try c.eventually { try c.pod("meanwhile")?.value(at: "status.phase") == "Running" })
        c.killNode()
        Thread.sleep(forTimeInterval: 3)
        try c.startNode()
        #expect(try c.eventually { try c.pod("meanwhile")?.value(at: "status.phase") == "Failed" })
        #expect(try c.status("meanwhile", "c")?.value(at: "state.terminated.exitCode") == 7)
        Thread.sleep(forTimeInterval: 2)
        let after = try c.pod("web")?["status"]?["containerStatuses"]?.arrayValue?.first
        #expect(after?["containerID"]?.stringValue == containerID)
        #expect(after?["restartCount"] == 0)
        #expect(try c.containers().filter { $0.contains("_web_") }.count == 2)

        // Graceful deletion: SIGTERM (ignored by sh), SIGKILL after 2 s, containers removed, pod gone.
        _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/web")
        #expect(try c.pod("web")?["metadata"]?["deletionTimestamp"] != nil)
        #expect(try c.eventually(15) { try c.pod("web") == nil })
        for name in ["once", "ok", "meanwhile"] { _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/\(name)") }
        #expect(try c.eventually { try c.containers().isEmpty })
        // No process of this node's pods is left (monitors, pause processes, containers).
        #expect(c.podProcesses().isEmpty, "processes left: \(c.podProcesses())")
        // Nothing left behind: no overlay mounts under the node's state, no pod cgroups.
        let mounts = TestEnv.mountinfo()
        #expect(!mounts.contains(c.dir + "/node/containers"))
        #expect(c.podCgroups().isEmpty, "pod cgroups left: \(c.podCgroups())")
        #expect(!FileManager.default.fileExists(atPath: c.dir + "/node/pods/") ||
                ((try? FileManager.default.contentsOfDirectory(atPath: c.dir + "/node/pods")) ?? []).isEmpty)
    }

    @Test func restartPolicyAlwaysRestartsAnExitingContainer() throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.createPod(podYAML("flaky", node: c.nodeName, command: "exit 1"))
        // The first restart comes after the 10 s back-off.
        #expect(try c.eventually(25) {
            (try c.pod("flaky")?["status"]?["containerStatuses"]?.arrayValue?.first?["restartCount"]?.intValue ?? 0) >= 1
        })
        let status = try c.pod("flaky")?["status"]?["containerStatuses"]?.arrayValue?.first
        #expect(status?.value(at: "lastState.terminated.exitCode") == 1)
        #expect(try c.eventually(5) {
            try c.pod("flaky")?["status"]?["containerStatuses"]?.arrayValue?.first?.value(at: "state.waiting.reason") == "CrashLoopBackOff"
        })
        let deleted = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/flaky")
        #expect(deleted.code == 200, "\(deleted.text)")
        let gone = try c.eventually(15) { try c.pod("flaky") == nil }
        let leftover = try c.pod("flaky")?.jsonString ?? ""
        #expect(gone, "\(c.nodeLog) \(leftover)")
    }
}
