// The pod sandbox (the kubelet's "pause" container): one tiny process per pod, skiff-monitor
// run as `--pause`, that holds the pod's UTS, IPC and network namespaces — and its PID
// namespace with shareProcessNamespace, where it is PID 1 and reaps orphans. App containers
// join them through /proc/<pause pid>/ns/*. The pod's cgroup sits under its QoS class, like the
// kubelet's hierarchy: <cgroup-root>/kubepods[/burstable|/besteffort]/pod<uid>/<container>.
import API
import Cgroups
import Runtime
#if canImport(Glibc)
import Glibc
#endif

enum PodNetwork {
    /// Set once at agent start: where pod IPs are looked up.
    nonisolated(unsafe) static var networking: PodNetworking?

    /// The pod's IP: the host's with hostNetwork, else what CNI gave its sandbox (if any).
    static func podIP(_ pod: JSONValue) -> String? {
        if pod["spec"]?["hostNetwork"]?.boolValue == true { return NodeInfo.hostIP() }
        return networking?.podIP(pod)
    }
}

struct PodSandbox {
    /// Name of the sandbox among a pod's containers (upper case: never a valid container name).
    static let containerName = "POD"

    let rootDir: String
    let cgroupRoot: String

    var rootfs: String { rootDir + "/sandbox/rootfs" }

    /// A read-only root holding only the static pause binary (a copy of skiff-monitor).
    func prepareRootfs(monitorPath: String) throws {
        let bytes = try FileIO.read(monitorPath)
        let target = rootfs + "/pause"
        if let existing = try? FileIO.read(target), existing == bytes { return }
        try FileIO.mkdirAll(rootfs, mode: 0o755)
        try FileIO.writeAtomic(target, bytes, mode: 0o755)
    }

    /// The pod's cgroup path (relative to each hierarchy root).
    func cgroupPath(uid: String, qosClass: String) -> String {
        switch qosClass {
        case "Guaranteed": return "\(cgroupRoot)/kubepods/pod\(uid)"
        case "BestEffort": return "\(cgroupRoot)/kubepods/besteffort/pod\(uid)"
        default: return "\(cgroupRoot)/kubepods/burstable/pod\(uid)"
        }
    }

    /// Creates the pod cgroup with pod-level limits: the sum of the containers' limits when all
    /// of them have one (the larger of that and any init container's), shares from requests.
    func createCgroup(_ pod: JSONValue, uid: String) throws -> String {
        let spec = pod["spec"] ?? .null
        let qos = pod["status"]?["qosClass"]?.stringValue ?? PodRules.qosClass(spec)
        let path = cgroupPath(uid: uid, qosClass: qos)
        let limits = Self.podLimits(spec, qosClass: qos)
        _ = try makeCgroupManager().create(path, limits: limits)
        return path
    }

    static func podLimits(_ spec: JSONValue, qosClass: String) -> CgroupLimits {
        func quantity(_ c: JSONValue, _ kind: String, _ r: String) -> Quantity? {
            c["resources"]?[kind]?[r]?.stringValue.flatMap { try? Quantity(parsing: $0) }
        }
        let containers = spec["containers"]?.arrayValue ?? []
        let inits = spec["initContainers"]?.arrayValue ?? []
        func total(_ kind: String, _ r: String, _ value: (Quantity) -> Int64) -> Int64? {
            var sum: Int64 = 0
            for c in containers { guard let q = quantity(c, kind, r) else { return nil }; sum += value(q) }
            for c in inits { guard let q = quantity(c, kind, r) else { return nil }; sum = max(sum, value(q)) }
            return sum
        }
        var limits = CgroupLimits()
        limits.memoryBytes = total("limits", "memory") { $0.value }
        if let milli = total("limits", "cpu", { $0.milliValue }) { limits.cpuQuotaMicros = CgroupConversions.quota(milliCPU: milli) }
        var requestMilli: Int64 = 0
        for c in containers { requestMilli += (quantity(c, "requests", "cpu") ?? quantity(c, "limits", "cpu"))?.milliValue ?? 0 }
        limits.cpuShares = qosClass == "BestEffort" ? 2 : CgroupConversions.shares(milliCPU: requestMilli)
        return limits
    }

    /// Removes every candidate pod cgroup (the QoS class may not be known any more).
    func removeCgroup(uid: String) {
        guard let manager = try? makeCgroupManager() else { return }
        for qos in ["Guaranteed", "Burstable", "BestEffort"] { try? manager.remove(cgroupPath(uid: uid, qosClass: qos)) }
    }

    /// The sandbox container's spec.
    func spec(_ pod: JSONValue, name: ContainerName, cgroupParent: String) -> ContainerSpec {
        let podSpec = pod["spec"] ?? .null
        var spec = ContainerSpec(root: .directory(rootfs))
        spec.name = name.text
        spec.detach = true
        spec.entrypoint = ["/pause", "--pause"]
        spec.readOnlyRootfs = true
        spec.hostname = Self.hostname(pod)
        spec.capDrop = ["ALL"]
        spec.noNewPrivileges = true
        spec.cgroupParent = cgroupParent
        let hostNetwork = podSpec["hostNetwork"]?.boolValue == true
        spec.networkNamespace = hostNetwork ? .host : .own
        spec.utsNamespace = hostNetwork ? .host : .own
        spec.ipcNamespace = podSpec["hostIPC"]?.boolValue == true ? .host : .own
        spec.pidNamespace = podSpec["hostPID"]?.boolValue == true ? .host : .own
        return spec
    }

    /// How an app container of the pod joins the sandbox's namespaces.
    static func join(_ spec: inout ContainerSpec, pod: JSONValue, sandboxPID: Int32) {
        let podSpec = pod["spec"] ?? .null
        func ns(_ type: String) -> ContainerSpec.NamespaceMode { .join("/proc/\(sandboxPID)/ns/\(type)") }
        let hostNetwork = podSpec["hostNetwork"]?.boolValue == true
        spec.networkNamespace = hostNetwork ? .host : ns("net")
        spec.utsNamespace = hostNetwork ? .host : ns("uts")
        spec.ipcNamespace = podSpec["hostIPC"]?.boolValue == true ? .host : ns("ipc")
        if podSpec["hostPID"]?.boolValue == true {
            spec.pidNamespace = .host
        } else if podSpec["shareProcessNamespace"]?.boolValue == true {
            spec.pidNamespace = ns("pid")
        } else {
            spec.pidNamespace = .own
        }
    }

    /// spec.hostname (the pod name by default), truncated to 63 characters as the kubelet does.
    static func hostname(_ pod: JSONValue) -> String {
        let name = pod["spec"]?["hostname"]?.stringValue ?? pod["metadata"]?["name"]?.stringValue ?? "pod"
        var h = String(name.prefix(63))
        while h.hasSuffix("-") || h.hasSuffix(".") { h.removeLast() }
        return h
    }
}
