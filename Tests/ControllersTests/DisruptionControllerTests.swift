// The disruption controller against FakeObjectClient and a test clock: the budget arithmetic
// (integers, percentages against the owners' scale, maxUnavailable), who counts as healthy,
// disruptedPods expiring after 2 minutes, the DisruptionAllowed condition, and stale
// DisruptionTarget conditions reset. The eviction subresource that consumes this status is tested
// against a real master in APIServerTests/EvictionTests.swift and with kubectl drain on skiff up.
import API
import Client
@testable import Controllers
import Foundation
import Testing

struct DisruptionHarness {
    let clock = TestClock()
    let api: FakeObjectClient
    let controller: DisruptionController

    init() {
        let clock = self.clock
        api = FakeObjectClient(now: { clock.now })
        let scales = WorkloadScales(replicaSets: api.lister(ReplicaSet.self), deployments: api.lister(Deployment.self),
                                    replicationControllers: api.lister(ReplicationController.self), statefulSets: api.lister(StatefulSet.self))
        controller = DisruptionController(budgets: api.lister(PodDisruptionBudget.self), pods: api.lister(Pod.self), scales: scales,
                                          events: nil, now: { clock.now })
    }

    @discardableResult
    func budget(_ name: String = "web", _ edit: (inout PodDisruptionBudget) -> Void) -> PodDisruptionBudget {
        var pdb = PodDisruptionBudget.new(namespace: "default", name: name)
        var selector = LabelSelectorSpec()
        selector.matchLabels = ["app": "web"]
        pdb.spec.selector = selector
        pdb.metadata.generation = 1
        edit(&pdb)
        #expect(PolicyRules.podDisruptionBudget.validate(pdb.json).isEmpty)
        api.seed(pdb)
        return pdb
    }

    /// A pod labelled app=web, Running and (unless told otherwise) Ready, optionally owned.
    func pod(_ name: String, ready: Bool = true, owner: OwnerReference? = nil, labels: [String: String] = ["app": "web"]) {
        var pod = Pod.new(namespace: "default", name: name)
        pod.metadata.labels = labels
        pod.metadata.uid = "uid-" + name
        if let owner { pod.metadata.ownerReferences = [owner] }
        pod.status.phase = .running
        var c = PodCondition()
        c.type = "Ready"
        c.status = ready ? .true : .false
        pod.status.conditions = [c]
        api.seed(pod)
    }

    func sync(_ name: String = "web") throws { try controller.sync("default/" + name, client: api) }
    func status(_ name: String = "web") throws -> PodDisruptionBudgetStatus {
        try #require(try api.get(PodDisruptionBudget.self, namespace: "default", name: name)).status
    }
}

/// A controller owner reference to an object of that kind.
func ownerRef(_ apiVersion: String, _ kind: String, _ name: String, uid: String) -> OwnerReference {
    var ref = OwnerReference()
    ref.apiVersion = apiVersion
    ref.kind = kind
    ref.name = name
    ref.uid = uid
    ref.controller = true
    return ref
}

@Suite struct DisruptionControllerTests {
    @Test func integerMinAvailableCountsSelectedReadyPods() throws {
        let h = DisruptionHarness()
        h.budget { $0.spec.minAvailable = .int(2) }
        for name in ["a", "b", "c"] { h.pod(name) }
        h.pod("unready", ready: false)
        h.pod("other", labels: ["app": "db"])
        try h.sync()
        var s = try h.status()
        #expect(s.expectedPods == 4 && s.currentHealthy == 3 && s.desiredHealthy == 2 && s.disruptionsAllowed == 1)
        #expect(s.observedGeneration == 1)
        let c = try #require(s.conditions.first { $0.type == "DisruptionAllowed" })
        #expect(c.status == .true && c.reason == "SufficientPods" && c.message == "" && c.lastTransitionTime == h.clock.now)

        // One pod goes: nothing more may be disrupted, and the condition says so.
        _ = try h.api.delete(Pod.self, namespace: "default", name: "c", propagation: nil, preconditionUID: nil)
        h.clock.advance(5)
        try h.sync()
        s = try h.status()
        #expect(s.currentHealthy == 2 && s.disruptionsAllowed == 0)
        let after = try #require(s.conditions.first { $0.type == "DisruptionAllowed" })
        #expect(after.status == .false && after.reason == "InsufficientPods" && after.lastTransitionTime == h.clock.now)

        // Nothing changed: no write.
        _ = h.api.takeActions()
        try h.sync()
        #expect(h.api.takeActions().isEmpty)
    }

    @Test func percentagesScaleAgainstTheOwnersReplicas() throws {
        let h = DisruptionHarness()
        // A Deployment of 4 (its ReplicaSet says 4 as well) with only 3 pods up: 50% of 4 = 2.
        var d = Deployment.new(namespace: "default", name: "web")
        d.metadata.uid = "uid-deploy"
        d.spec.replicas = 4
        var rs = ReplicaSet.new(namespace: "default", name: "web-1")
        rs.metadata.uid = "uid-rs"
        rs.spec.replicas = 4
        rs.metadata.ownerReferences = [ownerRef("apps/v1", "Deployment", "web", uid: "uid-deploy")]
        h.api.seed(d)
        h.api.seed(rs)
        h.budget { $0.spec.minAvailable = .string("50%") }
        for name in ["a", "b", "c"] { h.pod(name, owner: ownerRef("apps/v1", "ReplicaSet", "web-1", uid: "uid-rs")) }
        try h.sync()
        var s = try h.status()
        #expect(s.expectedPods == 4 && s.desiredHealthy == 2 && s.currentHealthy == 3 && s.disruptionsAllowed == 1)

        // maxUnavailable 25% of 4 rounds up to 1: desired 3.
        h.budget("max") { $0.spec.maxUnavailable = .string("25%") }
        try h.sync("max")
        s = try h.status("max")
        #expect(s.expectedPods == 4 && s.desiredHealthy == 3 && s.disruptionsAllowed == 0)

        // An integer maxUnavailable also scales from the controllers: 4 - 1 = 3 desired.
        h.budget("maxint") { $0.spec.maxUnavailable = .int(1) }
        try h.sync("maxint")
        #expect(try h.status("maxint").desiredHealthy == 3)
    }

    @Test func podsWithoutAKnownControllerCountOneEach() throws {
        let h = DisruptionHarness()
        var rc = ReplicationController.new(namespace: "default", name: "legacy")
        rc.metadata.uid = "uid-rc"
        rc.spec.replicas = 3
        h.api.seed(rc)
        h.budget { $0.spec.maxUnavailable = .string("50%") }
        h.pod("bare")
        h.pod("job-pod", owner: ownerRef("batch/v1", "Job", "batch", uid: "uid-job"))
        h.pod("rc-pod", owner: ownerRef("v1", "ReplicationController", "legacy", uid: "uid-rc"))
        h.pod("stale-owner", owner: ownerRef("apps/v1", "ReplicaSet", "gone", uid: "uid-gone"))
        try h.sync()
        let s = try h.status()
        // 1 + 1 + 3 (the RC's replicas) + 1; 50% of 6 rounded up is 3 unavailable: 3 desired.
        #expect(s.expectedPods == 6 && s.desiredHealthy == 3 && s.currentHealthy == 4 && s.disruptionsAllowed == 1)
    }

    @Test func selectorsNilEmptyAndNoPods() throws {
        let h = DisruptionHarness()
        h.pod("a")
        h.budget("none") { $0.spec.json["selector"] = nil; $0.spec.minAvailable = .int(0) }
        h.budget("all") { $0.spec.selector = LabelSelectorSpec(); $0.spec.minAvailable = .int(0) }
        h.budget("nomatch") { $0.spec.selector.matchLabels = ["app": "nothing"]; $0.spec.minAvailable = .int(0) }
        try h.sync("none")
        try h.sync("all")
        try h.sync("nomatch")
        #expect(try h.status("none").expectedPods == 0)
        #expect(try h.status("all").expectedPods == 1 && h.status("all").disruptionsAllowed == 1)
        // Nothing expected: no disruptions even with minAvailable 0.
        let s = try h.status("nomatch")
        #expect(s.expectedPods == 0 && s.disruptionsAllowed == 0)
    }

    @Test func disruptedPodsAreNotHealthyForTwoMinutes() throws {
        let h = DisruptionHarness()
        for name in ["a", "b", "c"] { h.pod(name) }
        h.budget {
            $0.spec.minAvailable = .int(1)
            // The eviction subresource let "a" go just now, and "gone" (no longer there) earlier.
            $0.status.disruptedPods = ["a": h.clock.now, "gone": h.clock.now.addingTimeInterval(-10)]
        }
        try h.sync()
        var s = try h.status()
        #expect(s.currentHealthy == 2 && s.disruptionsAllowed == 1)
        #expect(s.disruptedPods == ["a": h.clock.now])

        // "a" was never deleted: after 2 minutes it counts again and the entry is dropped.
        h.clock.advance(121)
        try h.sync()
        s = try h.status()
        #expect(s.currentHealthy == 3 && s.disruptionsAllowed == 2 && s.disruptedPods == nil)

        // A pod being deleted is not healthy and leaves the map at once.
        var b = try #require(try h.api.get(Pod.self, namespace: "default", name: "b"))
        b.metadata.deletionTimestamp = h.clock.now
        h.api.seed(b)
        try h.sync()
        #expect(try h.status().currentHealthy == 2)
    }

    @Test func invalidPercentFailsSafe() throws {
        let h = DisruptionHarness()
        h.pod("a")
        // As a status a controller could meet from an older server: not a valid percentage.
        var pdb = PodDisruptionBudget.new(namespace: "default", name: "web")
        pdb.spec.selector.matchLabels = ["app": "web"]
        pdb.spec.json["minAvailable"] = "half"
        pdb.status.disruptionsAllowed = 3
        h.api.seed(pdb)
        try h.sync()
        let s = try h.status()
        #expect(s.disruptionsAllowed == 0)
        let c = try #require(s.conditions.first)
        #expect(c.type == "DisruptionAllowed" && c.status == .false && c.reason == "SyncFailed")
        #expect(c.message?.contains("half") == true)
    }

    @Test func podChangesQueueTheirBudgets() throws {
        let h = DisruptionHarness()
        h.budget { $0.spec.minAvailable = .int(1) }
        h.budget("db") { $0.spec.selector.matchLabels = ["app": "db"]; $0.spec.minAvailable = .int(1) }
        var pod = Pod.new(namespace: "default", name: "p")
        pod.metadata.labels = ["app": "web"]
        var relabelled = pod
        relabelled.metadata.labels = ["app": "db"]
        h.controller.podChanged(old: pod, new: relabelled)
        var keys: Set<String> = []
        while h.controller.queue.count > 0 {
            let k = h.controller.queue.get()
            keys.insert(k)
            h.controller.queue.done(k)
        }
        #expect(keys == ["default/web", "default/db"])
    }

    @Test func staleDisruptionTargetIsReset() throws {
        let h = DisruptionHarness()
        h.pod("a")
        var pod = try #require(try h.api.get(Pod.self, namespace: "default", name: "a"))
        pod.status.setCondition("DisruptionTarget", .true, reason: "EvictionByEvictionAPI", message: "Eviction API: evicting", now: h.clock.now)
        h.api.seed(pod)
        #expect(h.controller.staleDisruptionWait(pod) == 120)
        try h.controller.sync("pod:default/a", client: h.api)
        #expect(try h.api.get(Pod.self, namespace: "default", name: "a")?.status.conditions.first { $0.type == "DisruptionTarget" }?.status == .true)
        h.clock.advance(120)
        try h.controller.sync("pod:default/a", client: h.api)
        let c = try #require(try h.api.get(Pod.self, namespace: "default", name: "a")?.status.conditions.first { $0.type == "DisruptionTarget" })
        #expect(c.status == .false && c.reason == nil && c.lastTransitionTime == h.clock.now)
    }
}
