// The StatefulSet controller against FakeObjectClient: ordered creation and scale-down, stable
// names and hostnames, claims per ordinal that outlive pods, Parallel, and rolling updates with
// a partition.
import API
import Client
@testable import Controllers
import Foundation
import Testing

struct StatefulHarness {
    let clock = TestClock()
    let api: FakeObjectClient
    let controller: StatefulSetController

    init() {
        let clock = self.clock
        api = FakeObjectClient(now: { clock.now })
        controller = StatefulSetController(statefulSets: api.lister(StatefulSet.self), pods: api.lister(Pod.self),
                                           claims: api.lister(PersistentVolumeClaim.self), revisions: api.lister(ControllerRevision.self),
                                           events: nil, now: { clock.now })
    }

    func create(_ name: String, replicas: Int64, _ edit: (inout StatefulSet) -> Void = { _ in }) throws {
        var set = StatefulSet.new(namespace: "default", name: name)
        set.metadata.generation = 1
        set.spec.replicas = replicas
        set.spec.serviceName = name
        set.spec.selector.matchLabels = ["app": name]
        set.spec.template.metadata.labels = ["app": name]
        var c = Container()
        c.name = "db"
        c.image = "db:1"
        set.spec.template.spec.containers = [c]
        edit(&set)
        var json = set.json
        AppsRules.statefulSet.applyDefaults(&json)
        #expect(AppsRules.statefulSet.validate(json).isEmpty, "\(AppsRules.statefulSet.validate(json))")
        api.seed(StatefulSet(json: json))
        try sync(name)
    }

    func edit(_ name: String, _ change: (inout StatefulSet) -> Void) throws {
        var set = try #require(try api.get(StatefulSet.self, namespace: "default", name: name))
        change(&set)
        set.metadata.generation = (set.metadata.generation ?? 1) + 1
        _ = try api.update(set)
    }

    func sync(_ name: String) throws { try controller.sync("default/" + name, client: api) }
    func names() throws -> [String] { try api.list(Pod.self, namespace: "default").filter { !$0.isBeingDeleted }.map(\.name).sorted() }
    func pod(_ name: String) throws -> Pod { try #require(try api.get(Pod.self, namespace: "default", name: name)) }

    /// The node's part: every pod runs and is Ready; deleted pods finish going.
    func runAll() throws {
        for pod in try api.list(Pod.self, namespace: "default") {
            if pod.isBeingDeleted { continue }
            let status: JSONValue = ["phase": "Running", "conditions": [["type": "Ready", "status": "True"]]]
            _ = try api.patch(Pod.self, namespace: "default", name: pod.name, ["status": status], .merge, subresource: "status")
        }
    }

    /// Syncs and runs pods until nothing changes (at most `rounds` times).
    func settle(_ name: String, rounds: Int = 12) throws {
        for _ in 0..<rounds {
            try sync(name)
            try runAll()
        }
        try sync(name)
    }
}

@Suite struct StatefulSetControllerTests {
    @Test func orderedReadyCreatesOneByOne() throws {
        let h = StatefulHarness()
        try h.create("web", replicas: 3)
        #expect(try h.names() == ["web-0"])
        try h.sync("web")
        #expect(try h.names() == ["web-0"], "web-1 waits for web-0 to be Ready")
        try h.runAll()
        try h.sync("web")
        #expect(try h.names() == ["web-0", "web-1"])
        let pod = try h.pod("web-1")
        #expect(pod.spec.hostname == "web-1" && pod.spec.subdomain == "web")
        #expect(pod.metadata.labels?[AppsRules.podNameLabel] == "web-1" && pod.metadata.labels?[AppsRules.podIndexLabel] == "1")
        try h.settle("web")
        #expect(try h.names() == ["web-0", "web-1", "web-2"])
        let status = try #require(try h.api.get(StatefulSet.self, namespace: "default", name: "web")).status
        #expect(status.readyReplicas == 3 && status.updatedReplicas == 3 && status.currentRevision == status.updateRevision)
    }

    @Test func scaleDownGoesFromTheTopAndKeepsClaims() throws {
        let h = StatefulHarness()
        try h.create("db", replicas: 3) { set in
            var claim = PersistentVolumeClaim()
            claim.metadata.name = "data"
            claim.spec.accessModes = ["ReadWriteOnce"]
            claim.spec.resources.requests = ["storage": "1Gi"]
            set.spec.volumeClaimTemplates = [claim]
        }
        try h.settle("db")
        #expect(try h.names() == ["db-0", "db-1", "db-2"])
        let claims = try h.api.list(PersistentVolumeClaim.self, namespace: "default").map(\.name).sorted()
        #expect(claims == ["data-db-0", "data-db-1", "data-db-2"])
        let volume = try #require(try h.pod("db-2").spec.volumes.first { $0.name == "data" })
        #expect(volume.persistentVolumeClaim.claimName == "data-db-2")
        try h.edit("db") { $0.spec.replicas = 1 }
        try h.sync("db")
        #expect(try h.names() == ["db-0", "db-1"], "db-2 goes first, alone")
        try h.settle("db")
        #expect(try h.names() == ["db-0"])
        #expect(try h.api.list(PersistentVolumeClaim.self, namespace: "default").count == 3, "Retain: claims outlive scale-down")
        // A deleted pod comes back under its name, with its claim.
        try h.api.delete(try h.pod("db-0"))
        try h.settle("db")
        #expect(try h.names() == ["db-0"])
        #expect(try h.pod("db-0").spec.volumes.first?.persistentVolumeClaim.claimName == "data-db-0")
    }

    @Test func whenScaledDeleteRemovesTheClaims() throws {
        let h = StatefulHarness()
        try h.create("cache", replicas: 2) { set in
            var claim = PersistentVolumeClaim()
            claim.metadata.name = "data"
            claim.spec.accessModes = ["ReadWriteOnce"]
            claim.spec.resources.requests = ["storage": "1Gi"]
            set.spec.volumeClaimTemplates = [claim]
            set.spec.persistentVolumeClaimRetentionPolicy.whenScaled = "Delete"
        }
        try h.settle("cache")
        try h.edit("cache") { $0.spec.replicas = 1 }
        try h.settle("cache")
        #expect(try h.api.list(PersistentVolumeClaim.self, namespace: "default").map(\.name) == ["data-cache-0"])
    }

    @Test func parallelCreatesAllAtOnce() throws {
        let h = StatefulHarness()
        try h.create("p", replicas: 3) { $0.spec.podManagementPolicy = .parallel }
        #expect(try h.names() == ["p-0", "p-1", "p-2"])
    }

    @Test func rollingUpdateRespectsThePartition() throws {
        let h = StatefulHarness()
        try h.create("web", replicas: 3)
        try h.settle("web")
        try h.edit("web") { set in
            set.spec.template.spec.containers[0].image = "db:2"
            set.spec.updateStrategy.rollingUpdate.partition = 1
        }
        try h.settle("web")
        func image(_ n: String) throws -> String? { try h.pod(n).spec.containers.first?.image }
        #expect(try image("web-0") == "db:1" && image("web-1") == "db:2" && image("web-2") == "db:2")
        var status = try #require(try h.api.get(StatefulSet.self, namespace: "default", name: "web")).status
        #expect(status.updatedReplicas == 2 && status.currentRevision != status.updateRevision)
        // web-0 deleted below the partition comes back on the old revision.
        try h.api.delete(try h.pod("web-0"))
        try h.settle("web")
        #expect(try image("web-0") == "db:1")
        try h.edit("web") { $0.spec.updateStrategy.rollingUpdate.partition = 0 }
        try h.settle("web")
        #expect(try image("web-0") == "db:2")
        status = try #require(try h.api.get(StatefulSet.self, namespace: "default", name: "web")).status
        #expect(status.updatedReplicas == 3 && status.currentRevision == status.updateRevision)
    }

    @Test func onlySomeFieldsMayChange() throws {
        let h = StatefulHarness()
        try h.create("web", replicas: 1)
        let old = try #require(try h.api.get(StatefulSet.self, namespace: "default", name: "web"))
        var changed = old
        changed.spec.serviceName = "other"
        let errs = AppsRules.statefulSet.validateUpdate(changed.json, old.json)
        #expect(errs.first?.description.hasPrefix("spec: Forbidden: updates to statefulset spec for fields other than 'replicas'") == true)
        var scaled = old
        scaled.spec.replicas = 5
        #expect(AppsRules.statefulSet.validateUpdate(scaled.json, old.json).isEmpty)
    }
}
