// Spreads the pods of one owner (ReplicaSet, ReplicationController...) across nodes: the fewer
// of its pods a node has, the better (kube-scheduler's default spreading over hostnames).
struct OwnerSpread: ScorePlugin {
    let name = "PodTopologySpread"
    let weight: Int64 = 2

    func score(_ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        guard let owner = pod.ownerUID else { return 0 }
        return Int64(node.podsByOwner[owner] ?? 0)
    }

    func normalize(_ scores: inout [Int64]) { normalizeByMax(&scores, reverse: true) }
}
