// Pod networks through CNI: after a pod's sandbox starts, the node's network list (the first
// config in --cni-conf-dir, or a default bridge + host-local + portmap over the node's podCIDR,
// written there) is ADDed to its network namespace; the result is kept in the pod's directory so
// DEL runs on removal — also after an agent crash, when the sandbox is long gone. Loopback needs
// no plugin: the runtime's shim brings `lo` up in every network namespace it creates.
import API
import Foundation
import Network
import Runtime

final class PodNetworking: @unchecked Sendable {
    let agent: NodeAgent
    let cni: CNIRuntime
    private let lock = NSLock()
    private var ips: [String: String] = [:]

    init(agent: NodeAgent) {
        self.agent = agent
        cni = CNIRuntime(binDirs: agent.options.cniBinDirs)
    }

    func recordPath(_ uid: String) -> String { agent.options.rootDir + "/pods/" + uid + "/network.json" }

    /// The pod's IP (hostNetwork: the node's), from memory or the record on disk.
    func podIP(_ pod: JSONValue) -> String? {
        if pod["spec"]?["hostNetwork"]?.boolValue == true { return NodeInfo.hostIP() }
        guard let uid = pod["metadata"]?["uid"]?.stringValue else { return nil }
        lock.lock()
        if let ip = ips[uid] { lock.unlock(); return ip }
        lock.unlock()
        guard let data = try? FileIO.read(recordPath(uid)), let record = try? JSONValue.parse(data),
              let ip = record["podIP"]?.stringValue else { return nil }
        lock.lock(); ips[uid] = ip; lock.unlock()
        return ip
    }

    /// The node's network list: the config dir's first, else the default over podCIDR (nil
    /// while the node has no podCIDR yet: pods then get loopback only).
    func networkList() throws -> JSONValue? {
        let dir = agent.options.cniConfDir
        // The bridge is named after the node and its state directory: two agents on one host
        // (test clusters, `skiff up` beside a node) would otherwise share one bridge and fight over
        // its address ("already has an IP address different from ...").
        let bridge = "skiff" + Digest6.of(agent.options.name + "\u{0}" + agent.options.rootDir)
        let ours = agent.podCIDR.map {
            DefaultNetwork.conflist(bridge: bridge, podCIDR: $0, ipamDir: agent.options.rootDir + "/cni/ipam")
        }
        // A list of someone else's is used as it is; ours is rewritten when an older skiff wrote it differently.
        if let list = try DefaultNetwork.load(dir), !(list["name"] == "skiff" && ours != nil && list != ours) { return list }
        guard let list = ours else { return nil }
        try FileIO.mkdirAll(dir, mode: 0o755)
        try FileIO.writeAtomic(dir + "/10-skiff.conflist", list.serialized(), mode: 0o644)
        return list
    }

    let started = Date()

    /// Whether pods must wait for the network: the node talks to a master that has not given it
    /// a pod CIDR yet (and no CNI config was provided). A node without a master — static pods —
    /// or one whose master never assigns CIDRs runs pods with loopback only after a minute.
    func mustWait(_ pod: JSONValue) -> Bool {
        guard pod["spec"]?["hostNetwork"]?.boolValue != true, agent.podCIDR == nil, agent.pods.isSynced else { return false }
        guard (try? DefaultNetwork.load(agent.options.cniConfDir)) == nil else { return false }
        return Date().timeIntervalSince(started) < 60
    }

    /// ADD for a new sandbox; returns the pod IP (nil: no pod network configured yet).
    func setUp(_ pod: JSONValue, uid: String, sandboxPID: Int32) throws -> String? {
        guard pod["spec"]?["hostNetwork"]?.boolValue != true else { return nil }
        tearDown(uid)   // a previous sandbox's
        let netns = "/proc/\(sandboxPID)/ns/net"
        guard let list = try networkList() else { return nil }
        let runtimeConfig = Self.portMappings(pod)
        let result = try cni.add(list: list, containerID: uid, netns: netns, runtimeConfig: runtimeConfig)
        let record: JSONValue = ["containerID": .string(uid), "netns": .string(netns), "config": list,
                                 "runtimeConfig": runtimeConfig ?? .null, "result": result.raw, "podIP": result.podIP.map(JSONValue.string) ?? .null]
        try FileIO.writeAtomic(recordPath(uid), record.serialized(), mode: 0o600)
        if let ip = result.podIP { lock.lock(); ips[uid] = ip; lock.unlock() }
        return result.podIP
    }

    /// DEL with what ADD used (best effort, idempotent: a missing namespace is fine).
    func tearDown(_ uid: String) {
        lock.lock(); ips[uid] = nil; lock.unlock()
        guard let data = try? FileIO.read(recordPath(uid)), let record = try? JSONValue.parse(data), let list = record["config"] else { return }
        var netns = record["netns"]?.stringValue ?? ""
        if !FileIO.exists(netns) { netns = "" }
        do {
            try cni.del(list: list, containerID: uid, netns: netns, prevResult: record["result"],
                        runtimeConfig: record["runtimeConfig"].flatMap { $0.isNull ? nil : $0 })
        } catch {
            agent.log("CNI DEL for pod \(uid): \(error)")
        }
        // Without its namespace the bridge plugin can't find the addresses its masquerade rules
        // were made for (the sandbox died while we were away): remove them by their comment.
        if netns.isEmpty { Self.removeMasqueradeRules(containerID: uid, network: list["name"]?.stringValue ?? "") }
        unlink(recordPath(uid))
    }

    /// The bridge plugin's per-pod nat rules and chain, found by the comment it tags them with
    /// and removed in one iptables-restore (which parses the saved rules' quoting itself).
    static func removeMasqueradeRules(containerID: String, network: String) {
        let saved = HostCommand.run("/usr/sbin/iptables-save", ["-t", "nat"]).stdout
        let tag = "id: \\\"\(containerID)\\\""
        var payload = "*nat\n"
        var chains = Set<String>()
        for line in saved.split(separator: "\n") where line.hasPrefix("-A POSTROUTING ") && line.contains(tag) {
            payload += "-D" + line.dropFirst(2) + "\n"
            let parts = line.split(separator: " ")
            if let j = parts.firstIndex(of: "-j"), j + 1 < parts.count, parts[j + 1].hasPrefix("CNI-") { chains.insert(String(parts[j + 1])) }
        }
        guard !chains.isEmpty else { return }
        for chain in chains.sorted() { payload += "-F \(chain)\n-X \(chain)\n" }
        payload += "COMMIT\n"
        _ = HostCommand.run("/usr/sbin/iptables-restore", ["--noflush"], input: Array(payload.utf8))
    }

    /// hostPort mappings for the portmap plugin.
    static func portMappings(_ pod: JSONValue) -> JSONValue? {
        var mappings: [JSONValue] = []
        for c in pod["spec"]?["containers"]?.arrayValue ?? [] {
            for p in c["ports"]?.arrayValue ?? [] {
                guard let host = p["hostPort"]?.intValue, host > 0, let port = p["containerPort"]?.intValue else { continue }
                mappings.append(["hostPort": .int(host), "containerPort": .int(port),
                                 "protocol": .string((p["protocol"]?.stringValue ?? "TCP").lowercased())])
            }
        }
        return mappings.isEmpty ? nil : ["portMappings": .array(mappings)]
    }
}

/// Six hex digits naming per-node host objects (bridges) so agents sharing a host don't collide.
enum Digest6 {
    static func of(_ s: String) -> String {
        var h: UInt32 = 2166136261
        for b in s.utf8 { h ^= UInt32(b); h = h &* 16777619 }
        let hex = String(h & 0xFFFFFF, radix: 16)
        return String(repeating: "0", count: 6 - hex.count) + hex
    }
}
