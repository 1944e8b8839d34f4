// What the scheduler knows about pods and nodes, reduced once from their JSON to plain values
// so the filter and score loops (thousands of nodes per pod) touch no JSON.
import API

struct Toleration: Equatable, Sendable {
    var key: String
    var exists: Bool
    var value: String
    var effect: String

    func tolerates(_ t: Taint) -> Bool {
        if !effect.isEmpty && effect != t.effect { return false }
        if key.isEmpty { return exists }
        return key == t.key && (exists || value == t.value)
    }
}

struct Taint: Equatable, Sendable {
    var key: String
    var value: String
    var effect: String
}

/// Resource amounts the scheduler compares.
struct Resources: Equatable, Sendable {
    var milliCPU: Int64 = 0
    var memory: Int64 = 0
    var pods: Int64 = 0

    static func + (a: Resources, b: Resources) -> Resources {
        Resources(milliCPU: a.milliCPU + b.milliCPU, memory: a.memory + b.memory, pods: a.pods + b.pods)
    }
    static func - (a: Resources, b: Resources) -> Resources {
        Resources(milliCPU: a.milliCPU - b.milliCPU, memory: a.memory - b.memory, pods: a.pods - b.pods)
    }
}

struct PodInfo: Sendable {
    var key: String
    var uid: String
    var namespace: String
    var name: String
    var schedulerName: String
    var nodeName: String
    var requests: Resources
    /// Requests with the kube-scheduler's non-zero defaults (100m, 200Mi) for scoring.
    var scoringRequests: Resources
    var nodeSelector: [String: String]
    /// nodeSelectorTerms: any one term (all of its requirements) must match; empty: no constraint.
    var requiredTerms: [[NodeRequirement]]
    var preferredTerms: [(weight: Int64, requirements: [NodeRequirement])]
    var tolerations: [Toleration]
    var hostPorts: [String]      // "TCP/0.0.0.0/8080"
    var ownerUID: String?
    /// The claims of its persistentVolumeClaim and ephemeral volumes (most pods: none, and the
    /// volume plugins then do nothing).
    var claims: [PodClaimVolume]
    var object: JSONValue

    init(_ pod: JSONValue) {
        object = pod
        let meta = pod["metadata"] ?? .null
        let spec = pod["spec"] ?? .null
        namespace = meta["namespace"]?.stringValue ?? "default"
        name = meta["name"]?.stringValue ?? ""
        key = namespace + "/" + name
        uid = meta["uid"]?.stringValue ?? ""
        schedulerName = spec["schedulerName"]?.stringValue ?? "default-scheduler"
        nodeName = spec["nodeName"]?.stringValue ?? ""
        (requests, scoringRequests) = Self.requests(spec)
        nodeSelector = spec["nodeSelector"]?.stringMap ?? [:]
        let affinity = spec["affinity"]?["nodeAffinity"]
        requiredTerms = (affinity?["requiredDuringSchedulingIgnoredDuringExecution"]?["nodeSelectorTerms"]?.arrayValue ?? []).map(NodeRequirement.term)
        preferredTerms = (affinity?["preferredDuringSchedulingIgnoredDuringExecution"]?.arrayValue ?? []).compactMap { p in
            guard let w = p["weight"]?.intValue, let pref = p["preference"] else { return nil }
            return (w, NodeRequirement.term(pref))
        }
        tolerations = (spec["tolerations"]?.arrayValue ?? []).map { t in
            Toleration(key: t["key"]?.stringValue ?? "", exists: t["operator"]?.stringValue == "Exists",
                       value: t["value"]?.stringValue ?? "", effect: t["effect"]?.stringValue ?? "")
        }
        var ports: [String] = []
        for c in spec["containers"]?.arrayValue ?? [] {
            for p in c["ports"]?.arrayValue ?? [] {
                guard let hp = p["hostPort"]?.intValue, hp > 0 else { continue }
                ports.append("\(p["protocol"]?.stringValue ?? "TCP")/\(p["hostIP"]?.stringValue ?? "0.0.0.0")/\(hp)")
            }
        }
        hostPorts = ports
        ownerUID = (meta["ownerReferences"]?.arrayValue ?? []).first { $0["controller"]?.boolValue == true }?["uid"]?.stringValue
        claims = PodSpec(json: spec).claimVolumes(podName: name)
    }

    /// Effective requests: the larger of the containers' sum and any init container's, + 1 pod.
    static func requests(_ spec: JSONValue) -> (Resources, Resources) {
        func amounts(_ c: JSONValue) -> (Int64, Int64, Int64, Int64) {
            let r = c["resources"]?["requests"]
            let cpu = r?["cpu"]?.stringValue.flatMap { try? Quantity(parsing: $0) }?.milliValue
            let mem = r?["memory"]?.stringValue.flatMap { try? Quantity(parsing: $0) }?.value
            return (cpu ?? 0, mem ?? 0, cpu ?? 100, mem ?? 200 << 20)
        }
        var sum = (Int64(0), Int64(0), Int64(0), Int64(0))
        for c in spec["containers"]?.arrayValue ?? [] {
            let a = amounts(c)
            sum = (sum.0 + a.0, sum.1 + a.1, sum.2 + a.2, sum.3 + a.3)
        }
        for c in spec["initContainers"]?.arrayValue ?? [] {
            let a = amounts(c)
            sum = (max(sum.0, a.0), max(sum.1, a.1), max(sum.2, a.2), max(sum.3, a.3))
        }
        return (Resources(milliCPU: sum.0, memory: sum.1, pods: 1), Resources(milliCPU: sum.2, memory: sum.3, pods: 1))
    }
}

final class NodeInfo: @unchecked Sendable {
    let name: String
    var labels: [String: String] = [:]
    var allocatable = Resources()
    var requested = Resources()
    var scoringRequested = Resources()
    var unschedulable = false
    var ready = true
    var taints: [Taint] = []
    var usedPorts: [String: Int] = [:]
    var podsByOwner: [String: Int] = [:]
    /// Pods counted on this node (assigned or assumed), by key.
    var pods: [String: PodInfo] = [:]

    init(name: String) { self.name = name }

    func update(from node: JSONValue) {
        labels = node["metadata"]?["labels"]?.stringMap ?? [:]
        let a = node["status"]?["allocatable"] ?? node["status"]?["capacity"] ?? .null
        allocatable = Resources(milliCPU: a["cpu"]?.stringValue.flatMap { try? Quantity(parsing: $0) }?.milliValue ?? 0,
                                memory: a["memory"]?.stringValue.flatMap { try? Quantity(parsing: $0) }?.value ?? 0,
                                pods: a["pods"]?.stringValue.flatMap { try? Quantity(parsing: $0) }?.value ?? 110)
        unschedulable = node["spec"]?["unschedulable"]?.boolValue == true
        taints = (node["spec"]?["taints"]?.arrayValue ?? []).map {
            Taint(key: $0["key"]?.stringValue ?? "", value: $0["value"]?.stringValue ?? "", effect: $0["effect"]?.stringValue ?? "")
        }
        let readyCondition = (node["status"]?["conditions"]?.arrayValue ?? []).first { $0["type"]?.stringValue == "Ready" }
        ready = readyCondition?["status"]?.stringValue == "True"
    }

    func add(_ pod: PodInfo) {
        guard pods[pod.key] == nil else { return }
        pods[pod.key] = pod
        requested = requested + pod.requests
        scoringRequested = scoringRequested + pod.scoringRequests
        for p in pod.hostPorts { usedPorts[p, default: 0] += 1 }
        if let o = pod.ownerUID { podsByOwner[o, default: 0] += 1 }
    }

    func remove(_ key: String) {
        guard let pod = pods.removeValue(forKey: key) else { return }
        requested = requested - pod.requests
        scoringRequested = scoringRequested - pod.scoringRequests
        for p in pod.hostPorts { usedPorts[p, default: 1] -= 1; if usedPorts[p] == 0 { usedPorts[p] = nil } }
        if let o = pod.ownerUID { podsByOwner[o, default: 1] -= 1; if podsByOwner[o] == 0 { podsByOwner[o] = nil } }
    }
}
