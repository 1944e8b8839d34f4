// The scheduler's decisions without a cluster: every filter, every score, the framework's
// choice and its "0/N nodes are available" message, the cache's assumed pods, the queue.
import API
import Foundation
@testable import Scheduler
import Testing

func json(_ text: String) -> JSONValue {
    do { return try JSONValue.parse(text) } catch { Issue.record("bad test JSON: \(error)\n\(text)"); return .null }
}

func node(_ name: String, cpu: String = "4", memory: String = "8Gi", pods: String = "110", labels: String = "{}",
          taints: String = "[]", unschedulable: Bool = false, ready: Bool = true) -> NodeInfo {
    let n = NodeInfo(name: name)
    n.update(from: json("""
    {"metadata": {"name": "\(name)", "labels": \(labels)}, "spec": {"unschedulable": \(unschedulable), "taints": \(taints)},
     "status": {"allocatable": {"cpu": "\(cpu)", "memory": "\(memory)", "pods": "\(pods)"},
                "conditions": [{"type": "Ready", "status": "\(ready ? "True" : "False")"}]}}
    """))
    return n
}

func pod(_ name: String = "p", cpu: String? = nil, memory: String? = nil, spec extra: String = "", owner: String? = nil) -> PodInfo {
    var requests: [String] = []
    if let cpu { requests.append("\"cpu\": \"\(cpu)\"") }
    if let memory { requests.append("\"memory\": \"\(memory)\"") }
    let owners = owner.map { #", "ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "uid": "\#($0)", "controller": true}]"# } ?? ""
    let extra = extra.isEmpty ? "" : extra + " "
    return PodInfo(json("""
    {"metadata": {"name": "\(name)", "namespace": "default", "uid": "u-\(name)"\(owners)},
     "spec": {\(extra.isEmpty ? "" : extra + ",") "containers": [{"name": "c", "image": "i", "resources": {"requests": {\(requests.joined(separator: ","))}}}]}}
    """))
}

@Suite struct FilterTests {
    @Test func resourcesFit() {
        let f = NodeResourcesFit()
        let n = node("n", cpu: "1", memory: "1Gi", pods: "2")
        #expect(f.filter(pod(cpu: "500m"), n) == nil)
        #expect(f.filter(pod(cpu: "1500m"), n) == "Insufficient cpu")
        #expect(f.filter(pod(memory: "2Gi"), n) == "Insufficient memory")
        n.add(pod("a", cpu: "600m"))
        #expect(f.filter(pod(cpu: "500m"), n) == "Insufficient cpu", "what is already placed counts")
        n.add(pod("b"))
        #expect(f.filter(pod(), n) == "Too many pods")
        n.remove("default/a")
        #expect(n.requested.milliCPU == 0)
    }

    @Test func initContainersCountByTheirMaximum() {
        let p = PodInfo(json(#"""
        {"metadata": {"name": "p"}, "spec": {"containers": [{"resources": {"requests": {"cpu": "100m"}}}, {"resources": {"requests": {"cpu": "200m"}}}],
                                              "initContainers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}
        """#))
        #expect(p.requests.milliCPU == 1000 && p.requests.memory == 1 << 30)
        #expect(p.scoringRequests.milliCPU == 1000)
    }

    @Test func nodeSelectorAndAffinity() {
        let f = NodeAffinity()
        let n = node("n1", labels: #"{"disk": "ssd", "zone": "a", "cores": "8"}"#)
        #expect(f.filter(pod(spec: #""nodeSelector": {"disk": "ssd"}"#), n) == nil)
        #expect(f.filter(pod(spec: #""nodeSelector": {"disk": "hdd"}"#), n) != nil)
        func affinity(_ exprs: String) -> PodInfo {
            pod(spec: #""affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [\#(exprs)]}}}"#)
        }
        #expect(f.filter(affinity(#"{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}"#), n) == nil)
        #expect(f.filter(affinity(#"{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}"#), n) != nil)
        #expect(f.filter(affinity(#"{"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}"#), n) == nil)
        #expect(f.filter(affinity(#"{"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}"#), n) != nil)
        #expect(f.filter(affinity(#"{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}"#), n) == nil)
        #expect(f.filter(affinity(#"{"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["4"]}]}"#), n) != nil)
        #expect(f.filter(affinity(#"{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}"#), n) == nil)
        // Terms are ORed; expressions within a term ANDed.
        #expect(f.filter(affinity(#"{"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}"#), n) == nil)
        #expect(f.filter(affinity(#"{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}, {"key": "gpu", "operator": "Exists"}]}"#), n) != nil)
    }

    @Test func taintsAndTolerations() {
        let f = TaintToleration()
        let n = node("n", taints: #"[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]"#)
        #expect(f.filter(pod(), n) == "node(s) had untolerated taint {dedicated: db}")
        #expect(f.filter(pod(spec: #""tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]"#), n) == nil)
        #expect(f.filter(pod(spec: #""tolerations": [{"key": "dedicated", "operator": "Exists"}]"#), n) == nil)
        #expect(f.filter(pod(spec: #""tolerations": [{"operator": "Exists"}]"#), n) == nil)
        #expect(f.filter(pod(spec: #""tolerations": [{"key": "dedicated", "value": "web"}]"#), n) != nil)
        #expect(f.filter(pod(spec: #""tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]"#), n) != nil)
        let soft = node("s", taints: #"[{"key": "k", "effect": "PreferNoSchedule"}]"#)
        #expect(f.filter(pod(), soft) == nil, "PreferNoSchedule only scores")
        #expect(TaintTolerationScore().score(pod(), soft) == 1)
    }

    @Test func unschedulableNotReadyNodeNameAndPorts() {
        #expect(NodeUnschedulable().filter(pod(), node("n", unschedulable: true)) == "node(s) were unschedulable")
        #expect(NodeUnschedulable().filter(pod(spec: #""tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]"#),
                                           node("n", unschedulable: true)) == nil)
        #expect(NodeReady().filter(pod(), node("n", ready: false)) == "node(s) were not ready")
        #expect(NodeName().filter(pod(spec: #""nodeName": "a""#), node("b")) != nil)
        #expect(NodeName().filter(pod(spec: #""nodeName": "a""#), node("a")) == nil)
        let withPort = PodInfo(json(#"{"metadata": {"name": "w"}, "spec": {"containers": [{"ports": [{"containerPort": 80, "hostPort": 8080}]}]}}"#))
        let n = node("n")
        #expect(NodePorts().filter(withPort, n) == nil)
        n.add(withPort)
        var other = withPort
        other.key = "default/other"
        #expect(NodePorts().filter(other, n) == "node(s) didn't have free ports for the requested pod ports")
    }
}

@Suite struct ScoreAndFrameworkTests {
    @Test func leastAllocatedAndBalanced() {
        let empty = node("empty"), busy = node("busy")
        busy.add(pod("x", cpu: "3", memory: "1Gi"))
        #expect(LeastAllocated().score(pod(cpu: "100m"), empty) > LeastAllocated().score(pod(cpu: "100m"), busy))
        #expect(BalancedAllocation().score(pod(cpu: "1", memory: "2Gi"), empty) == 100)
        #expect(BalancedAllocation().score(pod(cpu: "100m", memory: "2Gi"), busy) < 100)
    }

    @Test func spreadsAnOwnersPodsAndPrefersAffinity() {
        let a = node("a"), b = node("b")
        a.add(pod("r1", owner: "rs-1"))
        let framework = Framework()
        guard case .success(let chosen) = framework.schedule(pod("r2", owner: "rs-1"), nodes: [a, b]) else { Issue.record("unschedulable"); return }
        #expect(chosen.name == "b", "the owner's second pod goes to the other node")
        let ssd = node("ssd", labels: #"{"disk": "ssd"}"#)
        let preferring = pod(spec: #""affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}"#)
        guard case .success(let pick) = framework.schedule(preferring, nodes: [node("plain"), ssd]) else { Issue.record("unschedulable"); return }
        #expect(pick.name == "ssd")
    }

    @Test func unschedulableMessageInKubernetesWords() {
        let nodes = [node("a", cpu: "1"), node("b", cpu: "1"), node("c", taints: #"[{"key": "k", "value": "v", "effect": "NoSchedule"}]"#)]
        guard case .failure(let error) = Framework().schedule(pod(cpu: "2"), nodes: nodes) else { Issue.record("should not fit"); return }
        #expect(error.description == "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint {k: v}.")
        guard case .failure(let none) = Framework().schedule(pod(), nodes: []) else { Issue.record("no nodes"); return }
        #expect(none.description == "0/0 nodes are available: .")
    }

    @Test func largeClustersScoreASampleAndRotate() {
        #expect(Framework.nodesToFind(50) == 50)
        #expect(Framework.nodesToFind(1000) == 420)
        #expect(Framework.nodesToFind(5000) == 500)
        let nodes = (0..<300).map { node("n\($0)") }
        let f = Framework()
        var chosen = Set<String>()
        for i in 0..<20 { if case .success(let n) = f.schedule(pod("p\(i)"), nodes: nodes) { chosen.insert(n.name) } }
        #expect(chosen.count > 1, "successive pods start at different nodes")
    }
}

@Suite(.timeLimit(.minutes(1))) struct CacheAndQueueTests {
    @Test func assumedPodsCountUntilForgotten() {
        let cache = SchedulerCache()
        cache.updateNode(json(#"{"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "10"}, "conditions": [{"type": "Ready", "status": "True"}]}}"#))
        let n = cache.nodeList[0]
        let p = pod("a", cpu: "600m")
        cache.assume(p, on: n)
        #expect(n.requested.milliCPU == 600)
        #expect(NodeResourcesFit().filter(pod("b", cpu: "600m"), n) == "Insufficient cpu")
        cache.forget(p.key)
        #expect(n.requested.milliCPU == 0)
        // Confirmed by the API: counted once, even if assumed before.
        cache.assume(p, on: n)
        var bound = p
        bound.nodeName = "n"
        cache.podPlaced(bound, terminal: false)
        #expect(n.requested.milliCPU == 600)
        cache.podPlaced(bound, terminal: true)
        #expect(n.requested.milliCPU == 0, "finished pods free their requests")
    }

    @Test func queueBacksOffAndRetriesOnChange() {
        let q = SchedulingQueue()
        q.add(pod("a"))
        q.add(pod("a"))
        #expect(q.pop().name == "a")
        q.unschedulable(pod("a"))
        q.add(pod("b"))
        #expect(q.pop().name == "b", "a waits out its back-off")
        q.clusterChanged()
        #expect(q.pop().name == "a", "a change ends the wait")
    }
}
