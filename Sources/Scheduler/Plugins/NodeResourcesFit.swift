// Requests (cpu, memory, the pod count) must fit in what the node has left of its allocatable.
struct NodeResourcesFit: FilterPlugin {
    let name = "NodeResourcesFit"

    func filter(_ pod: PodInfo, _ node: NodeInfo) -> String? {
        let r = pod.requests, used = node.requested, a = node.allocatable
        if used.pods + 1 > a.pods { return "Too many pods" }
        if r.milliCPU > 0 && used.milliCPU + r.milliCPU > a.milliCPU { return "Insufficient cpu" }
        if r.memory > 0 && used.memory + r.memory > a.memory { return "Insufficient memory" }
        return nil
    }
}

/// Prefers the node with the most room left (cpu and memory equally), counting the pod.
struct LeastAllocated: ScorePlugin {
    let name = "NodeResourcesLeastAllocated"
    let weight: Int64 = 1

    func score(_ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        let used = node.scoringRequested + pod.scoringRequests
        func free(_ u: Int64, _ cap: Int64) -> Int64 { cap <= 0 || u > cap ? 0 : (cap - u) * 100 / cap }
        return (free(used.milliCPU, node.allocatable.milliCPU) + free(used.memory, node.allocatable.memory)) / 2
    }
}

/// Prefers nodes whose cpu and memory would be used in the same proportion.
struct BalancedAllocation: ScorePlugin {
    let name = "NodeResourcesBalancedAllocation"
    let weight: Int64 = 1

    func score(_ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        let used = node.scoringRequested + pod.scoringRequests
        guard node.allocatable.milliCPU > 0, node.allocatable.memory > 0 else { return 0 }
        let cpu = min(1, Double(used.milliCPU) / Double(node.allocatable.milliCPU))
        let mem = min(1, Double(used.memory) / Double(node.allocatable.memory))
        return Int64((1 - abs(cpu - mem)) * 100)
    }
}
