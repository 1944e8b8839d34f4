// Resource usage as the kubelet reports it (the seeds' cAdvisor): /stats/summary (node, pods,
// containers: cpu, memory working set, network, filesystem) and (CadvisorMetrics) /metrics/cadvisor,
// both read from cgroups and /proc at request time, stamped to the microsecond (the master's metrics
// pipeline divides by the time between two readings). usageNanoCores needs two samples: the
// previous cumulative reading of each cgroup is kept.
import API
import Cgroups
import Foundation
import Runtime
#if canImport(Glibc)
import Glibc
#endif

final class NodeStats: @unchecked Sendable {
    let agent: NodeAgent
    private let lock = NSLock()
    /// cgroup path → (when, cumulative cpu ns) of the last reading.
    private var lastCPU: [String: (Double, Int64)] = [:]
    private let started = Timestamps.now()

    init(agent: NodeAgent) { self.agent = agent }

    struct Usage {
        var cpuNanos: Int64 = 0
        var nanoCores: Int64?
        var memoryUsage: Int64 = 0
        var workingSet: Int64 = 0
    }

    private func usage(cgroupPath: String, manager: (any CgroupManager)?) -> Usage? {
        guard let manager, let s = try? manager.open(cgroupPath).stats() else { return nil }
        var u = Usage(cpuNanos: s.cpuUsageNanos, memoryUsage: s.memoryUsageBytes, workingSet: s.memoryWorkingSetBytes)
        let now = Date().timeIntervalSince1970
        lock.lock()
        if let (t, prev) = lastCPU[cgroupPath], now > t, s.cpuUsageNanos >= prev {
            u.nanoCores = Int64(Double(s.cpuUsageNanos - prev) / (now - t))
        }
        lastCPU[cgroupPath] = (now, s.cpuUsageNanos)
        lock.unlock()
        return u
    }

    private func cpu(_ u: Usage, time: String) -> JSONValue {
        var o: JSONValue = ["time": .string(time), "usageCoreNanoSeconds": .int(u.cpuNanos)]
        if let n = u.nanoCores { o["usageNanoCores"] = .int(n) }
        return o
    }

    private func memory(_ u: Usage, time: String, available: Int64? = nil) -> JSONValue {
        var o: JSONValue = ["time": .string(time), "usageBytes": .int(u.memoryUsage), "workingSetBytes": .int(u.workingSet)]
        if let available { o["availableBytes"] = .int(available) }
        return o
    }

    /// Pods with their containers' cgroups, from the runtime's containers and the API's pods.
    func podContainers() -> [(pod: JSONValue, containers: [(name: ContainerName, record: ContainerRecord)], sandboxPID: Int32?)] {
        var byUID: [String: [(ContainerName, ContainerRecord, ContainerRunState)]] = [:]
        for (r, s) in agent.runtime.list() {
            guard let n = ContainerName(parsing: r.name) else { continue }
            byUID[n.uid, default: []].append((n, r, s))
        }
        return agent.pods.all.compactMap { pod in
            guard let uid = pod["metadata"]?["uid"]?.stringValue, let all = byUID[String(uid.prefix(8))] else { return nil }
            var newest: [String: (ContainerName, ContainerRecord, ContainerRunState)] = [:]
            for c in all where (newest[c.0.container]?.0.attempt ?? -1) < c.0.attempt { newest[c.0.container] = c }
            var sandboxPID: Int32?
            if case .running(let pid)? = newest[PodSandbox.containerName]?.2 { sandboxPID = pid }
            let running = newest.values.filter { c in
                guard c.0.container != PodSandbox.containerName, case .running = c.2 else { return false }
                return true
            }.sorted { $0.0.container < $1.0.container }
            return (pod, running.map { ($0.0, $0.1) }, sandboxPID)
        }
    }

    func summary() -> JSONValue {
        // Microseconds: a rate over a window of a few seconds needs more than whole-second readings.
        let time = Timestamps.nowMicro()
        let manager = try? makeCgroupManager()
        let sandbox = PodSandbox(rootDir: agent.options.rootDir, cgroupRoot: agent.options.cgroupRoot)
        var pods: [JSONValue] = []
        for (pod, containers, sandboxPID) in podContainers() {
            let meta = pod["metadata"] ?? .null
            let uid = meta["uid"]?.stringValue ?? ""
            var cs: [JSONValue] = []
            for (name, record) in containers {
                guard let u = usage(cgroupPath: record.cgroupPath, manager: manager) else { continue }
                cs.append(["name": .string(name.container), "startTime": .string(Timestamps.rfc3339(record.createdAt)),
                           "cpu": cpu(u, time: time), "memory": memory(u, time: time),
                           "logs": fsStats(agent.runtime.store.paths(record.id).dir, time: time),
                           "rootfs": fsStats(agent.runtime.store.paths(record.id).dir, time: time)])
            }
            let qos = pod["status"]?["qosClass"]?.stringValue ?? PodRules.qosClass(pod["spec"] ?? .null)
            var entry: JSONValue = ["podRef": ["name": meta["name"] ?? "", "namespace": meta["namespace"] ?? "", "uid": .string(uid)],
                                    "startTime": pod["status"]?["startTime"] ?? .string(time), "containers": .array(cs)]
            if let u = usage(cgroupPath: sandbox.cgroupPath(uid: uid, qosClass: qos), manager: manager) {
                entry["cpu"] = cpu(u, time: time)
                entry["memory"] = memory(u, time: time)
            }
            if let sandboxPID { entry["network"] = network(pid: sandboxPID, time: time) }
            pods.append(entry)
        }
        let nodeTime = Timestamps.nowMicro()
        let mem = Self.meminfo()
        let total = mem.total, available = mem.available
        let nodeUsage = Usage(cpuNanos: Self.hostCPUNanos(), memoryUsage: total - mem.free, workingSet: total - available)
        var nodeCPU = nodeUsage
        lock.lock()
        let now = Date().timeIntervalSince1970
        if let (t, prev) = lastCPU["/"], now > t, nodeCPU.cpuNanos >= prev { nodeCPU.nanoCores = Int64(Double(nodeCPU.cpuNanos - prev) / (now - t)) }
        lastCPU["/"] = (now, nodeUsage.cpuNanos)
        lock.unlock()
        let node: JSONValue = ["nodeName": .string(agent.options.name), "startTime": .string(started),
                               "cpu": cpu(nodeCPU, time: nodeTime), "memory": memory(nodeUsage, time: nodeTime, available: available),
                               "fs": fsStats(agent.options.rootDir, time: time),
                               "runtime": ["imageFs": fsStats(agent.options.rootDir + "/images", time: time)]]
        return ["node": node, "pods": .array(pods)]
    }

    /// Cumulative busy CPU time of the host (all cpus), from /proc/stat.
    static func hostCPUNanos() -> Int64 {
        guard let text = try? FileIO.readString("/proc/stat"), let line = text.split(separator: "\n").first else { return 0 }
        let f = line.split(separator: " ").dropFirst().compactMap { Int64($0) }
        guard f.count >= 4 else { return 0 }
        let idle = f[3] + (f.count > 4 ? f[4] : 0)
        let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
        return (f.reduce(0, +) - idle) * (1_000_000_000 / max(ticks, 1))
    }

    /// The host's memory from /proc/meminfo, in bytes.
    struct HostMemory { var total: Int64 = 0, free: Int64 = 0, available: Int64 = 0 }

    static func meminfo() -> HostMemory {
        var out = HostMemory()
        for line in ((try? FileIO.readString("/proc/meminfo")) ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let v = Int64(parts[1]) else { continue }
            let bytes = parts.count > 2 ? v * 1024 : v
            switch parts[0] {
            case "MemTotal:": out.total = bytes
            case "MemFree:": out.free = bytes
            case "MemAvailable:": out.available = bytes
            default: continue
            }
        }
        return out
    }

    private func fsStats(_ path: String, time: String) -> JSONValue {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return ["time": .string(time)] }
        let block = Int64(s.f_frsize)
        return ["time": .string(time), "availableBytes": .int(Int64(s.f_bavail) * block), "capacityBytes": .int(Int64(s.f_blocks) * block),
                "usedBytes": .int(Int64(s.f_blocks - s.f_bfree) * block), "inodesFree": .int(Int64(s.f_favail)), "inodes": .int(Int64(s.f_files))]
    }

    /// Interface counters inside the pod's network namespace (through its sandbox's /proc).
    static func interfaces(pid: Int32) -> [(name: String, rx: Int64, tx: Int64, rxErrors: Int64, txErrors: Int64)] {
        guard let text = try? FileIO.readString("/proc/\(pid)/net/dev") else { return [] }
        return text.split(separator: "\n").dropFirst(2).compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let f = line[line.index(after: colon)...].split(separator: " ").compactMap { Int64($0) }
            guard f.count >= 12 else { return nil }
            return (name, f[0], f[8], f[2], f[10])
        }
    }

    private func network(pid: Int32, time: String) -> JSONValue {
        let ifaces = Self.interfaces(pid: pid).filter { $0.name != "lo" }
        let list: [JSONValue] = ifaces.map { i in
            ["name": .string(i.name), "rxBytes": .int(i.rx), "txBytes": .int(i.tx), "rxErrors": .int(i.rxErrors), "txErrors": .int(i.txErrors)]
        }
        var o: JSONValue = ["time": .string(time), "interfaces": .array(list)]
        if let first = ifaces.first { o["name"] = .string(first.name); o["rxBytes"] = .int(first.rx); o["txBytes"] = .int(first.tx) }
        return o
    }
}
