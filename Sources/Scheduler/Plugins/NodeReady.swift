// Node conditions: a node that is not Ready takes no new pods.
struct NodeReady: FilterPlugin {
    let name = "NodeReady"

    func filter(_ pod: PodInfo, _ node: NodeInfo) -> String? {
        node.ready ? nil : "node(s) were not ready"
    }
}
