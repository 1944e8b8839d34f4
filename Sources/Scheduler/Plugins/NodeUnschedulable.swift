// Cordoned nodes (spec.unschedulable) take no pods unless the pod tolerates the unschedulable taint.
struct NodeUnschedulable: FilterPlugin {
    let name = "NodeUnschedulable"
    static let taint = Taint(key: "node.kubernetes.io/unschedulable", value: "", effect: "NoSchedule")

    func filter(_ pod: PodInfo, _ node: NodeInfo) -> String? {
        guard node.unschedulable, !pod.tolerations.contains(where: { $0.tolerates(Self.taint) }) else { return nil }
        return "node(s) were unschedulable"
    }
}
