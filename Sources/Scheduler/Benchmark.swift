// The scheduling algorithm alone on a synthetic cluster (hack/bench/scheduler.sh part a): nodes
// with mixed sizes, labels and taints; pods with mixed requests, node affinity, tolerations and
// owners. Everything runs in this process; nothing is bound through an API.
import API
import Foundation

public enum SchedulerBenchmark {
    public struct Result: Sendable {
        public var scheduled = 0
        public var unschedulable = 0
        public var seconds = 0.0
        public var podsPerSecond: Double { seconds > 0 ? Double(scheduled + unschedulable) / seconds : 0 }
    }

    public static func syntheticNode(_ i: Int) -> JSONValue {
        let zones = ["a", "b", "c"]
        var spec: JSONValue = .object(JSONObject())
        if i % 10 == 0 { spec["taints"] = [["key": "dedicated", "value": "gpu", "effect": "NoSchedule"]] }
        return ["metadata": ["name": .string("node-\(i)"),
                             "labels": ["kubernetes.io/hostname": .string("node-\(i)"), "topology.kubernetes.io/zone": .string(zones[i % 3]),
                                        "disk": i % 2 == 0 ? "ssd" : "hdd"]],
                "spec": spec,
                "status": ["allocatable": ["cpu": i % 4 == 0 ? "32" : "16", "memory": i % 4 == 0 ? "128Gi" : "64Gi", "pods": "110"],
                           "conditions": [["type": "Ready", "status": "True"]]]]
    }

    public static func syntheticPod(_ i: Int) -> JSONValue {
        let cpus = ["100m", "250m", "500m", "1"], mems = ["128Mi", "256Mi", "512Mi", "1Gi"]
        var spec: JSONValue = ["containers": [["name": "c", "image": "busybox", "resources": ["requests": ["cpu": .string(cpus[i % 4]), "memory": .string(mems[(i / 4) % 4])]]]]]
        if i % 5 == 0 {
            spec["affinity"] = ["nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": ["nodeSelectorTerms": [["matchExpressions": [["key": "disk", "operator": "In", "values": ["ssd"]]]]]],
                                                 "preferredDuringSchedulingIgnoredDuringExecution": [["weight": 10, "preference": ["matchExpressions": [["key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]]]]]]]]
        }
        if i % 7 == 0 { spec["tolerations"] = [["key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"]] }
        return ["metadata": ["name": .string("pod-\(i)"), "namespace": "bench", "uid": .string("uid-\(i)"),
                             "ownerReferences": [["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": .string("rs-\(i % 50)"), "uid": .string("rs-\(i % 50)"), "controller": true]]],
                "spec": spec]
    }

    /// Schedules `pods` synthetic pods onto `nodes` synthetic nodes (pods parsed beforehand).
    public static func run(nodes nodeCount: Int, pods podCount: Int) -> Result {
        let cache = SchedulerCache()
        for i in 0..<nodeCount { cache.updateNode(syntheticNode(i)) }
        let pods = (0..<podCount).map { PodInfo(syntheticPod($0)) }
        let framework = Framework()
        let nodes = cache.nodeList
        var result = Result()
        let start = Date()
        for pod in pods {
            switch framework.schedule(pod, nodes: nodes) {
            case .success(let node): cache.assume(pod, on: node); result.scheduled += 1
            case .failure: result.unschedulable += 1
            }
        }
        result.seconds = Date().timeIntervalSince(start)
        return result
    }
}
