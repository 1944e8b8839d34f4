// Taints: NoSchedule and NoExecute ones must be tolerated (filter); untolerated
// PreferNoSchedule ones count against a node (score).
struct TaintToleration: FilterPlugin {
    let name = "TaintToleration"

    func filter(_ pod: PodInfo, _ node: NodeInfo) -> String? {
        for t in node.taints where t.effect == "NoSchedule" || t.effect == "NoExecute" {
            if !pod.tolerations.contains(where: { $0.tolerates(t) }) { return "node(s) had untolerated taint {\(t.key): \(t.value)}" }
        }
        return nil
    }
}

struct TaintTolerationScore: ScorePlugin {
    let name = "TaintToleration"
    let weight: Int64 = 3

    func score(_ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        Int64(node.taints.filter { taint in
            taint.effect == "PreferNoSchedule" && !pod.tolerations.contains { $0.tolerates(taint) }
        }.count)
    }

    func normalize(_ scores: inout [Int64]) { normalizeByMax(&scores, reverse: true) }
}
