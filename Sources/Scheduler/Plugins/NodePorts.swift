// Host ports: a node whose pods already use one of the pod's hostPorts (same protocol; any IP
// overlapping 0.0.0.0) can't take it.
struct NodePorts: FilterPlugin {
    let name = "NodePorts"

    func filter(_ pod: PodInfo, _ node: NodeInfo) -> String? {
        guard !pod.hostPorts.isEmpty, !node.usedPorts.isEmpty else { return nil }
        for want in pod.hostPorts {
            let p = want.split(separator: "/")
            guard p.count == 3 else { continue }
            for used in node.usedPorts.keys {
                let u = used.split(separator: "/")
                guard u.count == 3, u[0] == p[0], u[2] == p[2] else { continue }
                if u[1] == p[1] || u[1] == "0.0.0.0" || p[1] == "0.0.0.0" { return "node(s) didn't have free ports for the requested pod ports" }
            }
        }
        return nil
    }
}
