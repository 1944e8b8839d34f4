// Node lifecycle: a node whose Lease has not been renewed for the grace period becomes
// Ready=Unknown and gets the unreachable taints (NoSchedule, NoExecute); after the eviction
// timeout (or a pod's own tolerationSeconds for that taint) its pods are deleted so their
// controllers replace them elsewhere. A node whose agent is back loses the taints; its agent
// then finishes the deletions.
import API
import Client
import Foundation

final class NodeLifecycleController: Controller, InitialKeys, @unchecked Sendable {
    let name = "nodelifecycle"
    let informers: SharedInformers
    let options: ControllerOptions
    let queue = WorkQueue()
    static let unreachable = "node.kubernetes.io/unreachable"
    static let tick = "all-nodes"

    init(informers: SharedInformers, options: ControllerOptions) {
        self.informers = informers
        self.options = options
    }

    func initialKeys() -> [String] { [Self.tick] }

    func sync(_ key: String, client: APIClient) throws {
        defer { queue.addAfter(Self.tick, min(5, options.nodeMonitorGracePeriod / 4)) }
        let now = Date()
        for node in informers.nodes.items {
            let name = node["metadata"]?["name"]?.stringValue ?? ""
            let lease = informers.leases.get("kube-node-lease/" + name)
            let renewed = lease?["spec"]?["renewTime"]?.stringValue.flatMap(parseTime)
                ?? node["metadata"]?["creationTimestamp"]?.stringValue.flatMap(parseTime) ?? now
            let stale = now.timeIntervalSince(renewed) > options.nodeMonitorGracePeriod
            let taints = node["spec"]?["taints"]?.arrayValue ?? []
            let tainted = taints.first { $0["key"]?.stringValue == Self.unreachable && $0["effect"]?.stringValue == "NoExecute" }
            if stale {
                if tainted == nil { try markUnreachable(node, taints: taints, client: client) }
                try evict(node: name, since: tainted?["timeAdded"]?.stringValue.flatMap(parseTime) ?? now, client: client)
            } else if tainted != nil {
                let kept = taints.filter { $0["key"]?.stringValue != Self.unreachable }
                try client.send("PATCH", "/api/v1/nodes/\(name)", ["spec": ["taints": .array(kept)]], contentType: "application/merge-patch+json", missingOK: true)
            }
        }
    }

    func markUnreachable(_ node: JSONValue, taints: [JSONValue], client: APIClient) throws {
        let name = node["metadata"]?["name"]?.stringValue ?? ""
        let now = timestamp()
        let added = taints + [["key": .string(Self.unreachable), "effect": "NoSchedule", "timeAdded": .string(now)],
                              ["key": .string(Self.unreachable), "effect": "NoExecute", "timeAdded": .string(now)]]
        try client.send("PATCH", "/api/v1/nodes/\(name)", ["spec": ["taints": .array(added)]], contentType: "application/merge-patch+json", missingOK: true)
        let conditions: [JSONValue] = (node["status"]?["conditions"]?.arrayValue ?? []).map { c in
            var c = c
            c["status"] = "Unknown"
            c["reason"] = "NodeStatusUnknown"
            c["message"] = "Kubelet stopped posting node status."
            c["lastTransitionTime"] = .string(now)
            return c
        }
        try client.send("PATCH", "/api/v1/nodes/\(name)/status", ["status": ["conditions": .array(conditions)]],
                        contentType: "application/merge-patch+json", missingOK: true)
    }

    /// Deletes the node's pods whose toleration of the unreachable taint has run out.
    func evict(node: String, since: Date, client: APIClient) throws {
        let waited = Date().timeIntervalSince(since)
        for pod in informers.pods.items where pod["spec"]?["nodeName"]?.stringValue == node && isActive(pod) {
            var limit = options.podEvictionTimeout
            let toleration = (pod["spec"]?["tolerations"]?.arrayValue ?? []).first { t in
                (t["key"]?.stringValue == Self.unreachable || (t["key"] == nil && t["operator"]?.stringValue == "Exists"))
                    && (t["effect"] == nil || t["effect"]?.stringValue == "NoExecute")
            }
            if let toleration {
                guard let seconds = toleration["tolerationSeconds"]?.intValue else { continue }   // tolerates forever
                limit = Double(seconds)
            }
            guard waited >= limit else { continue }
            let meta = pod["metadata"] ?? .null
            try client.send("DELETE", "/api/v1/namespaces/\(meta["namespace"]?.stringValue ?? "")/pods/\(meta["name"]?.stringValue ?? "")", missingOK: true)
        }
    }
}
