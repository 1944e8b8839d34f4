// A pod naming its node (spec.nodeName set but not yet bound) fits only there.
struct NodeName: FilterPlugin {
    let name = "NodeName"

    func filter(_ pod: PodInfo, _ node: NodeInfo) -> String? {
        pod.nodeName.isEmpty || pod.nodeName == node.name ? nil : "node(s) didn't match the requested node name"
    }
}
