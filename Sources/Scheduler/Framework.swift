// The scheduling cycle for one pod: every filter plugin on the nodes (until enough feasible nodes
// are found, as kube-scheduler's percentageOfNodesToScore does on large clusters), then the score
// plugins on the feasible ones, weighted and normalised to 0–100; the best node wins (ties go
// round-robin). A pod that fits nowhere gets Kubernetes' "0/N nodes are available: ..." message.

/// Says why a node can't take the pod (nil: it can), in kube-scheduler's words.
protocol FilterPlugin: Sendable {
    var name: String { get }
    func filter(_ pod: PodInfo, _ node: NodeInfo) -> String?
}

/// Rates a feasible node; `normalize` turns the raw scores of all feasible nodes into 0–100.
protocol ScorePlugin: Sendable {
    var name: String { get }
    var weight: Int64 { get }
    func score(_ pod: PodInfo, _ node: NodeInfo) -> Int64
    func normalize(_ scores: inout [Int64])
}

extension ScorePlugin {
    func normalize(_ scores: inout [Int64]) {}
}

/// Scales to 0–100 by the maximum (reversed: the lowest raw score gets 100).
func normalizeByMax(_ scores: inout [Int64], reverse: Bool) {
    let top = scores.max() ?? 0
    for i in scores.indices {
        if top == 0 { scores[i] = reverse ? 100 : 0; continue }
        let v = scores[i] * 100 / top
        scores[i] = reverse ? 100 - v : v
    }
}

struct FitError: Error, CustomStringConvertible {
    let nodes: Int
    let reasons: [String: Int]
    /// Why the pod fits no node whatever the node (a PreFilter's rejection), instead of the reasons.
    var podReason: String? = nil

    var description: String {
        if let podReason { return "0/\(nodes) nodes are available: \(podReason)." }
        let parts = reasons.map { "\($0.value) \($0.key)" }.sorted { a, b in
            // Kubernetes sorts the reasons' texts.
            a.drop(while: { $0.isNumber || $0 == " " }) < b.drop(while: { $0.isNumber || $0 == " " })
        }
        return "0/\(nodes) nodes are available: " + parts.joined(separator: ", ") + "."
    }
}

final class Framework: @unchecked Sendable {
    let filters: [any FilterPlugin]
    let scores: [any ScorePlugin]
    private var nextStart = 0
    /// The default plugin set is called directly (no existential boxes in the inner loops).
    private let defaultFilterSet: Bool

    init(filters: [any FilterPlugin] = Framework.defaultFilters, scores: [any ScorePlugin] = Framework.defaultScores) {
        self.filters = filters
        self.scores = scores
        defaultFilterSet = filters.map(\.name) == Framework.defaultFilters.map(\.name)
        defaultScoreSet = scores.map(\.name) == Framework.defaultScores.map(\.name)
    }
    private let defaultScoreSet: Bool

    /// The default scores, statically dispatched: one pass over the nodes, then each plugin's
    /// normalisation and weight (same results as the generic loop).
    func defaultTotals(_ pod: PodInfo, _ feasible: [NodeInfo]) -> [Int64] {
        let n = feasible.count
        var least = [Int64](repeating: 0, count: n), balanced = least, affinity = least, taints = least, spread = least
        let hasPreferences = !pod.preferredTerms.isEmpty, hasOwner = pod.ownerUID != nil
        for i in 0..<n {
            unowned(unsafe) let node = feasible[i]
            least[i] = LeastAllocated().score(pod, node)
            balanced[i] = BalancedAllocation().score(pod, node)
            if hasPreferences { affinity[i] = NodeAffinityScore().score(pod, node) }
            if !node.taints.isEmpty { taints[i] = TaintTolerationScore().score(pod, node) }
            if hasOwner { spread[i] = OwnerSpread().score(pod, node) }
        }
        NodeAffinityScore().normalize(&affinity)
        TaintTolerationScore().normalize(&taints)
        OwnerSpread().normalize(&spread)
        let w = (LeastAllocated().weight, BalancedAllocation().weight, NodeAffinityScore().weight, TaintTolerationScore().weight, OwnerSpread().weight)
        var total = [Int64](repeating: 0, count: n)
        for i in 0..<n {
            total[i] = least[i] * w.0 + balanced[i] * w.1 + affinity[i] * w.2 + taints[i] * w.3 + spread[i] * w.4
        }
        return total
    }

    /// The default filters, statically dispatched (same order as defaultFilters).
    @inline(__always)
    static func runDefaultFilters(_ pod: PodInfo, _ node: NodeInfo) -> String? {
        if let r = NodeUnschedulable().filter(pod, node) { return r }
        if let r = NodeName().filter(pod, node) { return r }
        if let r = NodeReady().filter(pod, node) { return r }
        if let r = TaintToleration().filter(pod, node) { return r }
        if let r = NodeAffinity().filter(pod, node) { return r }
        if let r = NodePorts().filter(pod, node) { return r }
        return NodeResourcesFit().filter(pod, node)
    }

    static let defaultFilters: [any FilterPlugin] = [
        NodeUnschedulable(), NodeName(), NodeReady(), TaintToleration(), NodeAffinity(), NodePorts(), NodeResourcesFit(),
    ]
    static let defaultScores: [any ScorePlugin] = [
        LeastAllocated(), BalancedAllocation(), NodeAffinityScore(), TaintTolerationScore(), OwnerSpread(),
    ]

    /// kube-scheduler's adaptive percentageOfNodesToScore: all nodes up to 100, then
    /// 50% - nodes/125 (at least 5%), never fewer than 100.
    static func nodesToFind(_ total: Int) -> Int {
        if total <= 100 { return total }
        let percent = max(5, 50 - total / 125)
        return max(100, total * percent / 100)
    }

    /// The chosen node, or a FitError naming why each node was refused. `volumes`: what
    /// VolumeBinding's PreFilter found for a pod with claims (nil for the others).
    func schedule(_ pod: PodInfo, nodes: [NodeInfo], volumes: PodVolumes? = nil) -> Result<NodeInfo, FitError> {
        guard !nodes.isEmpty else { return .failure(FitError(nodes: 0, reasons: [:])) }
        let wanted = Self.nodesToFind(nodes.count)
        var feasible: [NodeInfo] = []
        feasible.reserveCapacity(wanted)
        var reasons: [String: Int] = [:]
        let start = nextStart % nodes.count
        var visited = 0
        for offset in 0..<nodes.count {
            unowned(unsafe) let node = nodes[(start + offset) % nodes.count]
            visited += 1
            var refused: String?
            if defaultFilterSet {
                refused = Self.runDefaultFilters(pod, node)
            } else {
                for f in filters { if let r = f.filter(pod, node) { refused = r; break } }
            }
            if refused == nil, let volumes { refused = volumes.filter(node) }
            if let refused { reasons[refused, default: 0] += 1 } else {
                feasible.append(node)
                if feasible.count >= wanted { break }
            }
        }
        // The next pod starts where this one stopped, so every node gets its turn.
        nextStart = (start + visited) % nodes.count
        if feasible.isEmpty { return .failure(FitError(nodes: nodes.count, reasons: reasons)) }
        if feasible.count == 1 || scores.isEmpty { return .success(feasible[0]) }
        var total: [Int64]
        if defaultScoreSet {
            total = defaultTotals(pod, feasible)
        } else {
            total = [Int64](repeating: 0, count: feasible.count)
            var raw = [Int64](repeating: 0, count: feasible.count)
            for plugin in scores {
                for i in feasible.indices { raw[i] = plugin.score(pod, feasible[i]) }
                plugin.normalize(&raw)
                for i in feasible.indices { total[i] += raw[i] * plugin.weight }
            }
        }
        var best = 0
        for i in 1..<feasible.count where total[i] > total[best] { best = i }
        return .success(feasible[best])
    }
}
