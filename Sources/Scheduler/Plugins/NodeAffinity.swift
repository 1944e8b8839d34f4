// nodeSelector and required node affinity (filter); preferred node affinity weights (score).
struct NodeAffinity: FilterPlugin {
    let name = "NodeAffinity"

    func filter(_ pod: PodInfo, _ node: NodeInfo) -> String? {
        for (k, v) in pod.nodeSelector where node.labels[k] != v { return Self.reason }
        if !pod.requiredTerms.isEmpty,
           !pod.requiredTerms.contains(where: { term in !term.isEmpty && term.allSatisfy { $0.matches(labels: node.labels, nodeName: node.name) } }) {
            return Self.reason
        }
        return nil
    }

    static let reason = "node(s) didn't match Pod's node affinity/selector"
}

struct NodeAffinityScore: ScorePlugin {
    let name = "NodeAffinity"
    let weight: Int64 = 2

    func score(_ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        pod.preferredTerms.reduce(0) { sum, p in
            p.requirements.allSatisfy { $0.matches(labels: node.labels, nodeName: node.name) } ? sum + p.weight : sum
        }
    }

    func normalize(_ scores: inout [Int64]) { normalizeByMax(&scores, reverse: false) }
}
