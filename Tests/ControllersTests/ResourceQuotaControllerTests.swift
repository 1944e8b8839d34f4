// The resource quota controller against FakeObjectClient: status.hard follows spec.hard,
// status.used is recounted from the namespace's objects (finished pods use no compute, object
// counts by `count/`), nothing is written when nothing changed, a recount after a stale read is
// a conflict, what stops counting requeues the namespace's quotas, and the resync key queues
// every quota and comes back. The real twin runs against skiff up (NodeRootTests).
import API
import Client
@testable import Controllers
import Foundation
import Testing

struct QuotaHarness {
    let clock = TestClock()
    let api: FakeObjectClient
    let controller: ResourceQuotaController

    init() {
        let clock = self.clock
        let api = FakeObjectClient(now: { clock.now })
        self.api = api
        controller = ResourceQuotaController(quotas: api.lister(ResourceQuota.self), objects: { resource, namespace in
            switch resource.plural {
            case "pods": return api.lister(Pod.self).list(namespace: namespace).map(\.json)
            case "configmaps": return api.lister(ConfigMap.self).list(namespace: namespace).map(\.json)
            default: return []
            }
        }, resyncPeriod: 300, now: { clock.now })
    }

    func quota(_ name: String = "q", hard: [String: String]) {
        var q = ResourceQuota.new(namespace: "shop", name: name)
        q.spec.hard = hard
        api.seed(q)
    }

    func pod(_ name: String, cpu: String, phase: PodPhase = .running) {
        var p = Pod.new(namespace: "shop", name: name)
        var c = Container()
        c.name = "c"
        c.image = "busybox"
        c.resources.requests = ["cpu": cpu]
        p.spec.containers = [c]
        p.status.phase = phase
        api.seed(p)
    }

    func sync(_ name: String = "q") throws { try controller.sync("shop/" + name, client: api) }
    func status(_ name: String = "q") throws -> ResourceQuotaStatus {
        try #require(try api.get(ResourceQuota.self, namespace: "shop", name: name)).status
    }
}

@Suite struct ResourceQuotaControllerTests {
    @Test func statusFollowsTheNamespacesObjects() throws {
        let h = QuotaHarness()
        h.quota(hard: ["pods": "5", "count/pods": "5", "requests.cpu": "2", "configmaps": "3"])
        h.pod("web", cpu: "500m")
        h.pod("done", cpu: "1", phase: .succeeded)
        h.api.seed(ConfigMap.new(namespace: "shop", name: "settings"), ConfigMap.new(namespace: "other", name: "elsewhere"))
        try h.sync()
        var s = try h.status()
        #expect(s.hard == ["pods": "5", "count/pods": "5", "requests.cpu": "2", "configmaps": "3"])
        #expect(s.used == ["pods": "1", "count/pods": "2", "requests.cpu": "500m", "configmaps": "1"])
        _ = h.api.takeActions()
        // Nothing changed: nothing written.
        try h.sync()
        #expect(h.api.takeActions().isEmpty)
        // A limit changes: status.hard follows and unused names show 0.
        var q = try #require(try h.api.get(ResourceQuota.self, namespace: "shop", name: "q"))
        q.spec.hard = ["pods": "5", "limits.memory": "1Gi"]
        _ = try h.api.update(q)
        try h.sync()
        s = try h.status()
        #expect(s.hard == ["pods": "5", "limits.memory": "1Gi"] && s.used == ["pods": "1", "limits.memory": "0"])
    }

    @Test func aStaleQuotaIsAConflictNotAnOverwrite() throws {
        let h = QuotaHarness()
        h.quota(hard: ["pods": "5"])
        let stale = try #require(try h.api.get(ResourceQuota.self, namespace: "shop", name: "q"))
        // Admission charged the quota after the controller's cache read it.
        var charged = stale
        charged.status.hard = ["pods": "5"]
        charged.status.used = ["pods": "1"]
        _ = try h.api.updateStatus(charged)
        let controller = ResourceQuotaController(quotas: Lister(items: { [stale.json] }, get: { _ in stale.json }), objects: { _, _ in [] },
                                                 resyncPeriod: 300)
        #expect(throws: APIStatusError.self) { try controller.sync("shop/q", client: h.api) }
        #expect(try h.status().used == ["pods": "1"])
    }

    @Test func podsThatStopCountingRequeueTheirNamespacesQuotas() throws {
        let h = QuotaHarness()
        h.quota("a", hard: ["pods": "5"])
        h.quota("b", hard: ["requests.cpu": "1"])
        var other = ResourceQuota.new(namespace: "other", name: "c")
        other.spec.hard = ["pods": "1"]
        h.api.seed(other)
        let pods = Pod.resource
        var running = Pod.new(namespace: "shop", name: "web")
        running.status.phase = .running
        var finished = running
        finished.status.phase = .succeeded
        #expect(h.controller.queue.count == 0)
        h.controller.objectChanged(pods, old: running.json, new: running.json)   // still charged
        #expect(h.controller.queue.count == 0)
        h.controller.objectChanged(pods, old: nil, new: running.json)   // created: admission charged it
        #expect(h.controller.queue.count == 0)
        h.controller.objectChanged(pods, old: running.json, new: finished.json)
        #expect(h.controller.queue.count == 2)
        #expect(Set([h.controller.queue.get(), h.controller.queue.get()]) == ["shop/a", "shop/b"])
        let configMaps = try #require(ResourceRegistry.lookup(groupVersion: "v1", plural: "configmaps"))
        h.controller.objectChanged(configMaps, old: ConfigMap.new(namespace: "other", name: "x").json, new: nil)   // deleted
        #expect(h.controller.queue.get() == "other/c")
    }

    @Test func theResyncKeyQueuesEveryQuota() throws {
        let h = QuotaHarness()
        h.quota("a", hard: ["pods": "5"])
        h.quota("b", hard: ["pods": "5"])
        #expect(Set(h.controller.initialKeys()) == ["shop/a", "shop/b"])
        try h.controller.sync(ResourceQuotaController.resyncKey, client: h.api)
        #expect(Set([h.controller.queue.get(), h.controller.queue.get()]) == ["shop/a", "shop/b"])
        // A quota being deleted is left alone.
        var q = try #require(try h.api.get(ResourceQuota.self, namespace: "shop", name: "a"))
        q.metadata.finalizers = ["keep"]
        _ = try h.api.update(q)
        _ = try h.api.delete(ResourceQuota.self, namespace: "shop", name: "a", propagation: nil, preconditionUID: nil)
        _ = h.api.takeActions()
        try h.sync("a")
        #expect(h.api.takeActions().isEmpty)
    }
}
