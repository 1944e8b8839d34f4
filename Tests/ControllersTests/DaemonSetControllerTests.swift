// The DaemonSet controller against FakeObjectClient: placement by labels, affinity and taints,
// nodes coming and going, rolling updates (maxUnavailable, maxSurge), OnDelete, and the
// ControllerRevision history rollout undo reads.
import API
import Client
@testable import Controllers
import Foundation
import Testing

struct DaemonHarness {
    let clock = TestClock()
    let api: FakeObjectClient
    let controller: DaemonSetController

    init() {
        let clock = self.clock
        api = FakeObjectClient(now: { clock.now })
        controller = DaemonSetController(daemonSets: api.lister(DaemonSet.self), pods: api.lister(Pod.self), nodes: api.lister(Node.self),
                                         revisions: api.lister(ControllerRevision.self), events: nil, now: { clock.now })
        let c = controller
        api.onChange(Pod.self) { c.podChanged(old: $0, new: $1) }
    }

    func node(_ name: String, labels: [String: String] = [:], taint: TaintEffect? = nil) {
        var n = Node.new(name: name)
        n.metadata.labels = labels
        if let taint {
            var t = Taint()
            t.key = "dedicated"
            t.value = "db"
            t.effect = taint
            n.spec.taints = [t]
        }
        api.seed(n)
    }

    func create(_ name: String, image: String = "agent:1", _ edit: (inout DaemonSet) -> Void = { _ in }) throws {
        var ds = DaemonSet.new(namespace: "default", name: name)
        ds.metadata.generation = 1
        var selector = LabelSelectorSpec()
        selector.matchLabels = ["app": name]
        ds.spec.selector = selector
        ds.spec.template.metadata.labels = ["app": name]
        var c = Container()
        c.name = "agent"
        c.image = image
        ds.spec.template.spec.containers = [c]
        edit(&ds)
        var json = ds.json
        AppsRules.daemonSet.applyDefaults(&json)
        #expect(AppsRules.daemonSet.validate(json).isEmpty, "\(AppsRules.daemonSet.validate(json))")
        api.seed(DaemonSet(json: json))
        try sync(name)
    }

    func setImage(_ name: String, _ image: String) throws {
        var ds = try #require(try api.get(DaemonSet.self, namespace: "default", name: name))
        ds.spec.template.spec.containers[0].image = image
        ds.metadata.generation = (ds.metadata.generation ?? 1) + 1
        _ = try api.update(ds)
    }

    func sync(_ name: String) throws { try controller.sync("default/" + name, client: api) }
    func pods() throws -> [Pod] { try api.list(Pod.self, namespace: "default").filter { !$0.isBeingDeleted } }
    func nodes(of pods: [Pod]) -> [String] { pods.compactMap(DaemonPlacement.nodeName(of:)).sorted() }
    func images(_ pods: [Pod]) -> [String] { pods.compactMap { $0.spec.containers.first?.image }.sorted() }

    /// The scheduler and node's part: the pod runs where it is pinned and turns Ready.
    func runAll() throws {
        for pod in try pods() where pod.status.phase != .running {
            let status: JSONValue = ["phase": "Running", "conditions": [["type": "Ready", "status": "True", "lastTransitionTime": .string(KubeTime.format(clock.now))]]]
            _ = try api.patch(Pod.self, namespace: "default", name: pod.name, ["status": status, "spec": ["nodeName": .string(DaemonPlacement.nodeName(of: pod) ?? "")]], .merge)
        }
    }

    func status(_ name: String) throws -> DaemonSetStatus { try #require(try api.get(DaemonSet.self, namespace: "default", name: name)).status }
}

@Suite struct DaemonSetControllerTests {
    @Test func onePodPerEligibleNode() throws {
        let h = DaemonHarness()
        h.node("a", labels: ["disk": "ssd"])
        h.node("b", labels: ["disk": "ssd"])
        h.node("c")
        h.node("tainted", labels: ["disk": "ssd"], taint: .noSchedule)
        h.node("soft", labels: ["disk": "ssd"], taint: .preferNoSchedule)
        try h.create("agent") { $0.spec.template.spec.nodeSelector = ["disk": "ssd"] }
        let pods = try h.pods()
        #expect(h.nodes(of: pods) == ["a", "b", "soft"], "nodeSelector and NoSchedule taints decide; PreferNoSchedule does not")
        let pod = try #require(pods.first)
        #expect(pod.spec.nodeName == nil, "the scheduler places it")
        let term = try #require(pod.spec.affinity.nodeAffinity.required.nodeSelectorTerms.first?.matchFields.first)
        #expect(term.key == "metadata.name" && term.op == "In")
        #expect(pod.spec.tolerations.contains { $0.key == "node.kubernetes.io/unschedulable" && $0.op == "Exists" && $0.effect == "NoSchedule" })
        #expect(pod.spec.tolerations.contains { $0.key == "node.kubernetes.io/not-ready" && $0.effect == "NoExecute" })
        #expect(pod.metadata.labels?[AppsRules.revisionHashLabel] != nil && pod.controllerRef?.name == "agent")
        try h.sync("agent")
        #expect(try h.pods().count == 3, "nothing twice")
        let status = try h.status("agent")
        #expect(status.desiredNumberScheduled == 3 && status.currentNumberScheduled == 3 && status.numberReady == 0)
        try h.runAll()
        try h.sync("agent")
        #expect(try h.status("agent").numberReady == 3 && h.status("agent").numberAvailable == 3)
    }

    @Test func tolerationsAndAffinityAdmitNodes() throws {
        let h = DaemonHarness()
        h.node("db1", taint: .noExecute)
        h.node("web1", labels: ["role": "web"])
        try h.create("tolerant") { ds in
            var t = Toleration()
            t.key = "dedicated"
            t.op = "Equal"
            t.value = "db"
            ds.spec.template.spec.tolerations = [t]
        }
        #expect(h.nodes(of: try h.pods()) == ["db1", "web1"])
        try h.create("web") { ds in
            var req = NodeSelectorRequirement()
            req.key = "role"
            req.op = "In"
            req.values = ["web"]
            var term = NodeSelectorTerm()
            term.matchExpressions = [req]
            ds.spec.template.spec.affinity.nodeAffinity.required.nodeSelectorTerms = [term]
        }
        #expect(h.nodes(of: try h.pods().filter { $0.controllerRef?.name == "web" }) == ["web1"])
    }

    @Test func followsNodesComingAndGoing() throws {
        let h = DaemonHarness()
        h.node("a")
        try h.create("agent")
        h.node("b")
        try h.sync("agent")
        #expect(h.nodes(of: try h.pods()) == ["a", "b"])
        try h.api.delete(Node.self, namespace: nil, name: "a", propagation: nil, preconditionUID: nil)
        try h.sync("agent")
        #expect(h.nodes(of: try h.pods()) == ["b"])
    }

    @Test func rollingUpdateReplacesOneAtATime() throws {
        let h = DaemonHarness()
        for n in ["a", "b", "c"] { h.node(n) }
        try h.create("agent")
        try h.runAll()
        try h.sync("agent")
        try h.setImage("agent", "agent:2")
        try h.sync("agent")
        #expect(h.images(try h.pods()) == ["agent:1", "agent:1"], "maxUnavailable 1: one old pod goes first")
        try h.sync("agent")
        #expect(h.images(try h.pods()) == ["agent:1", "agent:1", "agent:2"], "its replacement has the new template")
        try h.sync("agent")
        #expect(try h.pods().count == 3, "the next waits until the new pod is available")
        for _ in 0..<4 {
            try h.runAll()
            try h.sync("agent")
        }
        #expect(h.images(try h.pods()) == ["agent:2", "agent:2", "agent:2"])
        try h.runAll()
        try h.sync("agent")
        let status = try h.status("agent")
        #expect(status.updatedNumberScheduled == 3 && status.numberAvailable == 3 && status.observedGeneration == 2)
        let revisions = h.controller.history.owned(by: try #require(try h.api.get(DaemonSet.self, namespace: "default", name: "agent")))
        #expect(revisions.map(\.revision) == [1, 2])
        let data = try #require(revisions.last?.data)
        #expect(data["spec"]?["template"]?["$patch"] == "replace")
        #expect(data["spec"]?["template"]?["spec"]?["containers"]?.arrayValue?.first?["image"] == "agent:2")
        // Back to the first template: its revision becomes the newest, no third one appears.
        try h.setImage("agent", "agent:1")
        try h.sync("agent")
        let after = h.controller.history.owned(by: try #require(try h.api.get(DaemonSet.self, namespace: "default", name: "agent")))
        #expect(after.count == 2 && after.last?.name == revisions.first?.name && after.last?.revision == 3)
    }

    @Test func maxSurgeStartsTheNewPodFirst() throws {
        let h = DaemonHarness()
        h.node("a")
        try h.create("agent") { ds in
            ds.spec.updateStrategy.rollingUpdate.maxSurge = .int(1)
            ds.spec.updateStrategy.rollingUpdate.maxUnavailable = .int(0)
        }
        try h.runAll()
        try h.sync("agent")
        try h.setImage("agent", "agent:2")
        try h.sync("agent")
        #expect(h.images(try h.pods()) == ["agent:1", "agent:2"], "old and new side by side")
        try h.sync("agent")
        #expect(try h.pods().count == 2, "the old one stays until the new one is available")
        try h.runAll()
        try h.sync("agent")
        #expect(h.images(try h.pods()) == ["agent:2"])
    }

    @Test func onDeleteWaitsForTheUser() throws {
        let h = DaemonHarness()
        h.node("a")
        try h.create("agent") { $0.spec.updateStrategy.type = .onDelete }
        try h.setImage("agent", "agent:2")
        try h.sync("agent")
        #expect(h.images(try h.pods()) == ["agent:1"])
        try h.api.delete(try #require(try h.pods().first))
        try h.sync("agent")
        #expect(h.images(try h.pods()) == ["agent:2"])
    }

    @Test func rollingUpdateValidation() {
        var ds = DaemonSet.new(namespace: "default", name: "x")
        ds.spec.selector.matchLabels = ["app": "x"]
        ds.spec.template.metadata.labels = ["app": "x"]
        var c = Container()
        c.name = "c"
        c.image = "busybox"
        ds.spec.template.spec.containers = [c]
        ds.spec.updateStrategy.rollingUpdate.maxUnavailable = .int(0)
        ds.spec.updateStrategy.rollingUpdate.maxSurge = .int(0)
        var json = ds.json
        AppsRules.daemonSet.applyDefaults(&json)
        let errs = AppsRules.daemonSet.validate(json).map(\.description)
        #expect(errs == ["spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"])
    }
}
