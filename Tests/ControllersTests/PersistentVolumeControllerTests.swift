// The PV controller and the storage protection controller against FakeObjectClient: static
// binding (smallest fit, selectors, modes), WaitForFirstConsumer and provisioner hand-off,
// reserved volumes, release and reclaim by policy, local-path expansion, and the pvc/pv
// protection finalizers.
import API
import Client
@testable import Controllers
import Foundation
import Testing

struct VolumeHarness {
    let api = FakeObjectClient()
    let binder: PersistentVolumeController
    let protection: StorageProtectionController

    init() {
        binder = PersistentVolumeController(claims: api.lister(PersistentVolumeClaim.self), volumes: api.lister(PersistentVolume.self),
                                            classes: api.lister(StorageClass.self), nodes: api.lister(Node.self), events: nil)
        protection = StorageProtectionController(claims: api.lister(PersistentVolumeClaim.self), volumes: api.lister(PersistentVolume.self),
                                                 pods: api.lister(Pod.self))
    }

    @discardableResult
    func volume(_ name: String, _ size: String, modes: [String] = ["ReadWriteOnce"], className: String = "",
                policy: PersistentVolumeReclaimPolicy = .retain, labels: [String: String] = [:], _ edit: (inout PersistentVolume) -> Void = { _ in }) -> PersistentVolume {
        var pv = PersistentVolume.new(name: name)
        pv.metadata.labels = labels
        pv.spec.capacity = ["storage": size]
        pv.spec.accessModes = modes
        pv.spec.storageClassName = className
        pv.spec.reclaimPolicy = policy
        pv.spec.hostPath.path = "/srv/" + name
        edit(&pv)
        var json = pv.json
        StorageRules.persistentVolume.applyDefaults(&json)
        #expect(StorageRules.persistentVolume.validate(json).isEmpty, "\(StorageRules.persistentVolume.validate(json))")
        api.seed(PersistentVolume(json: json))
        return PersistentVolume(json: json)
    }

    @discardableResult
    func claim(_ name: String, _ size: String, modes: [String] = ["ReadWriteOnce"], className: String? = "",
               _ edit: (inout PersistentVolumeClaim) -> Void = { _ in }) throws -> PersistentVolumeClaim {
        var c = PersistentVolumeClaim.new(namespace: "default", name: name)
        c.spec.accessModes = modes
        c.spec.resources.requests = ["storage": size]
        c.spec.storageClassName = className
        c.metadata.finalizers = [StorageRules.claimProtectionFinalizer]
        edit(&c)
        var json = c.json
        StorageRules.persistentVolumeClaim.applyDefaults(&json)
        #expect(StorageRules.persistentVolumeClaim.validate(json).isEmpty)
        let created = try api.create(PersistentVolumeClaim(json: json))
        try sync(created.key)
        return try #require(try api.get(PersistentVolumeClaim.self, namespace: "default", name: name))
    }

    func storageClass(_ name: String, provisioner: String, mode: VolumeBindingMode, expand: Bool = false) {
        var sc = StorageClass.new(name: name)
        sc.provisioner = provisioner
        sc.volumeBindingMode = mode
        sc.reclaimPolicy = .delete
        sc.allowVolumeExpansion = expand
        api.seed(sc)
    }

    func node(_ name: String, ready: Bool = true) {
        var n = Node.new(name: name)
        var c = NodeCondition()
        c.type = "Ready"
        c.status = ready ? .true : .false
        n.status.conditions = [c]
        api.seed(n)
    }

    func sync(_ key: String) throws { try binder.sync(key, client: api) }
    func syncVolume(_ name: String) throws { try binder.sync(PersistentVolumeController.volumePrefix + name, client: api) }
    func claimNow(_ name: String) throws -> PersistentVolumeClaim? { try api.get(PersistentVolumeClaim.self, namespace: "default", name: name) }
    func volumeNow(_ name: String) throws -> PersistentVolume? { try api.get(PersistentVolume.self, namespace: nil, name: name) }
    func reported(_ name: String) -> String? { binder.reported.withLock { $0["default/" + name] } }
}

@Suite struct PersistentVolumeControllerTests {
    @Test func bindsTheSmallestVolumeThatFitsBothWays() throws {
        let h = VolumeHarness()
        h.volume("big", "5Gi")
        h.volume("small", "1Gi")
        h.volume("readonly", "1Gi", modes: ["ReadOnlyMany"])
        let one = try h.claim("one", "1Gi")
        #expect(one.spec.volumeName == "small" && one.status.phase == "Bound" && one.status.capacity?["storage"] == "1Gi")
        #expect(one.metadata.annotations?[StorageRules.bindCompletedAnnotation] == "yes")
        let pv = try #require(try h.volumeNow("small"))
        #expect(pv.status.phase == .bound && pv.spec.claimRef.name == "one" && pv.spec.claimRef.uid == one.uid)
        // The next 1Gi claim gets the 5Gi volume (the 1Gi ReadOnlyMany one lacks ReadWriteOnce).
        #expect(try h.claim("two", "1Gi").spec.volumeName == "big")
        // Nothing left: the claim waits, and says why once.
        let three = try h.claim("three", "1Gi")
        #expect(three.spec.volumeName == nil && three.status.phase == "Pending")
        #expect(h.reported("three")?.contains("no persistent volumes available for this claim and no storage class is set") == true)
        // A class only binds volumes of that class.
        h.volume("fast-1", "1Gi", className: "fast")
        try h.sync("default/three")
        #expect(try h.claimNow("three")?.spec.volumeName == nil)
    }

    @Test func selectorsAndVolumeNameChooseTheVolume() throws {
        let h = VolumeHarness()
        h.volume("plain", "1Gi")
        h.volume("ssd", "2Gi", labels: ["disk": "ssd"])
        let picky = try h.claim("picky", "1Gi") { $0.spec.selector.matchLabels = ["disk": "ssd"] }
        #expect(picky.spec.volumeName == "ssd")
        // A claim naming its volume gets exactly that one (the user's pre-binding).
        h.volume("named", "3Gi")
        let named = try h.claim("named-claim", "1Gi") { $0.spec.volumeName = "named" }
        #expect(named.status.phase == "Bound" && named.status.capacity?["storage"] == "3Gi")
        #expect(try h.volumeNow("named")?.spec.claimRef.uid == named.uid)
    }

    @Test func waitForFirstConsumerHandsOffToTheProvisionerOnTheChosenNode() throws {
        let h = VolumeHarness()
        h.storageClass("local-path", provisioner: StorageRules.localPathProvisioner, mode: .waitForFirstConsumer)
        h.volume("static", "10Gi", className: "local-path")
        let waiting = try h.claim("data", "1Gi", className: "local-path")
        // Not bound to the static volume either: the scheduler has not picked a node.
        #expect(waiting.spec.volumeName == nil && waiting.metadata.annotations?[StorageRules.provisionerAnnotation] == nil)
        #expect(h.reported("data")?.hasPrefix("WaitForFirstConsumer") == true)
        var picked = waiting
        picked.metadata.annotations = [StorageRules.selectedNodeAnnotation: "node-a"]
        _ = try h.api.update(picked)
        try h.sync("default/data")
        let handedOff = try #require(try h.claimNow("data"))
        #expect(handedOff.metadata.annotations?[StorageRules.provisionerAnnotation] == StorageRules.localPathProvisioner)
        #expect(handedOff.metadata.annotations?[StorageRules.betaProvisionerAnnotation] == StorageRules.localPathProvisioner)
        #expect(h.reported("data")?.hasPrefix("ExternalProvisioning") == true)
        // The provisioner's volume comes reserved for the claim: the binder completes it.
        h.volume("pvc-" + handedOff.uid, "1Gi", className: "local-path", policy: .delete) { pv in
            pv.spec.claimRef.name = "data"
            pv.spec.claimRef.namespace = "default"
            pv.spec.claimRef.uid = handedOff.uid
            pv.metadata.annotations = [StorageRules.provisionedByAnnotation: StorageRules.localPathProvisioner]
        }
        try h.sync("default/data")
        #expect(try h.claimNow("data")?.spec.volumeName == "pvc-" + handedOff.uid)
        #expect(try h.volumeNow("static")?.spec.claimRef.isSet == false)
    }

    @Test func immediateLocalPathClaimsGetAReadyNode() throws {
        let h = VolumeHarness()
        h.storageClass("now", provisioner: StorageRules.localPathProvisioner, mode: .immediate)
        h.node("down", ready: false)
        h.node("up")
        let claim = try h.claim("c", "1Gi", className: "now")
        #expect(claim.metadata.annotations?[StorageRules.selectedNodeAnnotation] == "up")
        #expect(claim.metadata.annotations?[StorageRules.provisionerAnnotation] == StorageRules.localPathProvisioner)
        // A class that does not exist is the claim's event, not a crash.
        _ = try h.claim("lost", "1Gi", className: "nope")
        #expect(h.reported("lost")?.contains("storageclass.storage.k8s.io \"nope\" not found") == true)
    }

    @Test func releasedVolumesAreReclaimedByPolicy() throws {
        let h = VolumeHarness()
        h.volume("keep", "1Gi", policy: .retain)
        h.volume("drop", "2Gi", policy: .delete)
        h.volume("local", "3Gi", policy: .delete) { $0.metadata.annotations = [StorageRules.provisionedByAnnotation: StorageRules.localPathProvisioner] }
        for (claim, size) in [("a", "1Gi"), ("b", "2Gi"), ("c", "3Gi")] { try h.claim(claim, size) }
        for claim in ["a", "b", "c"] {
            var c = try #require(try h.claimNow(claim))
            c.metadata.finalizers = []
            _ = try h.api.update(c)
            _ = try h.api.delete(c)
        }
        for pv in ["keep", "drop", "local"] { try h.syncVolume(pv) }
        #expect(try h.volumeNow("keep")?.status.phase == .released)
        let failed = try #require(try h.volumeNow("drop"))
        #expect(failed.status.phase == .failed && failed.status.message?.contains("no deletable volume plugin matched") == true)
        // Local-path volumes wait, Released, for their node to remove the directory.
        #expect(try h.volumeNow("local")?.status.phase == .released)
        // A released volume is not bound again (its data belongs to the old claim).
        #expect(try h.claim("again", "1Gi").spec.volumeName == nil)
    }

    @Test func localPathClaimsExpand() throws {
        let h = VolumeHarness()
        h.storageClass("grow", provisioner: StorageRules.localPathProvisioner, mode: .immediate, expand: true)
        h.volume("pv-grow", "1Gi", className: "grow", policy: .delete) { $0.metadata.annotations = [StorageRules.provisionedByAnnotation: StorageRules.localPathProvisioner] }
        var claim = try h.claim("g", "1Gi", className: "grow")
        #expect(claim.spec.volumeName == "pv-grow")
        claim.spec.resources.requests = ["storage": "4Gi"]
        _ = try h.api.update(claim)
        try h.sync("default/g")
        #expect(try h.volumeNow("pv-grow")?.spec.capacity?["storage"] == "4Gi")
        #expect(try h.claimNow("g")?.status.capacity?["storage"] == "4Gi")
    }

    @Test func protectionHoldsClaimsInUseAndBoundVolumes() throws {
        let h = VolumeHarness()
        h.volume("pv", "1Gi") { $0.metadata.finalizers = [StorageRules.volumeProtectionFinalizer] }
        let claim = try h.claim("data", "1Gi")
        var pod = Pod.new(namespace: "default", name: "user")
        var v = Volume()
        v.name = "d"
        v.persistentVolumeClaim.claimName = "data"
        pod.spec.volumes = [v]
        pod.status.phase = .running
        h.api.seed(pod)
        _ = try h.api.delete(claim)
        try h.protection.sync("default/data", client: h.api)
        #expect(try h.claimNow("data")?.isBeingDeleted == true, "kept while the pod runs")
        // A bound volume being deleted waits too.
        _ = try h.api.delete(PersistentVolume.self, namespace: nil, name: "pv", propagation: nil, preconditionUID: nil)
        try h.protection.sync("pv:pv", client: h.api)
        #expect(try h.volumeNow("pv") != nil)
        // The pod finishes: the claim goes, the volume is released, then it goes as well.
        _ = try h.api.updateStatus(try #require(try h.api.get(Pod.self, namespace: "default", name: "user")).with { $0.status.phase = .succeeded })
        try h.protection.sync("default/data", client: h.api)
        #expect(try h.claimNow("data") == nil)
        try h.syncVolume("pv")
        #expect(try h.volumeNow("pv")?.status.phase == .released)
        try h.protection.sync("pv:pv", client: h.api)
        #expect(try h.volumeNow("pv") == nil)
    }

    @Test func matchingHonoursNodeAffinity() {
        var pv = PersistentVolume.new(name: "local")
        pv.spec.capacity = ["storage": "1Gi"]
        pv.spec.accessModes = ["ReadWriteOnce"]
        pv.spec.nodeAffinity.required.nodeSelectorTerms = [.node(named: "node-a")]
        var claim = PersistentVolumeClaim.new(namespace: "default", name: "c")
        claim.spec.accessModes = ["ReadWriteOnce"]
        claim.spec.resources.requests = ["storage": "500Mi"]
        claim.spec.storageClassName = ""
        #expect(VolumeMatching.bestMatch(for: claim, in: [pv], node: ("node-a", ["kubernetes.io/hostname": "node-a"]))?.name == "local")
        #expect(VolumeMatching.bestMatch(for: claim, in: [pv], node: ("node-b", ["kubernetes.io/hostname": "node-b"])) == nil)
        claim.spec.resources.requests = ["storage": "2Gi"]
        #expect(VolumeMatching.bestMatch(for: claim, in: [pv]) == nil, "too small")
    }
}

extension JSONView {
    func with(_ change: (inout Self) -> Void) -> Self { var copy = self; change(&copy); return copy }
}
