// VolumeBinding on a FakeObjectClient's claims, volumes and classes: missing or deleted claims,
// bound volumes' node affinity, WaitForFirstConsumer claims (a static volume reserved through its
// claimRef, or the selected-node annotation for the provisioner, written before the binding),
// Immediate claims left to the PV controller, ReadWriteOncePod, and the retry when a claim appears.
import API
import Client
import Foundation
@testable import Scheduler
import Testing

/// A scheduler whose VolumeBinding reads `fake` (no informers, no binder threads: tests call in).
func storageScheduler(_ fake: FakeObjectClient) -> Scheduler {
    var options = SchedulerOptions(server: "http://127.0.0.1:9")
    options.scheduledEvents = false
    let volumes = VolumeBinding(claims: fake.lister(PersistentVolumeClaim.self), volumes: fake.lister(PersistentVolume.self),
                                classes: fake.lister(StorageClass.self))
    return Scheduler(options: options, log: { _ in }, volumes: volumes)
}

func hostNode(_ name: String, unschedulable: Bool = false) -> NodeInfo {
    node(name, labels: #"{"kubernetes.io/hostname": "\#(name)"}"#, unschedulable: unschedulable)
}

func claim(_ name: String, storageClass: String? = nil, volume: String? = nil, modes: [String] = ["ReadWriteOnce"],
           storage: String = "1Gi") -> PersistentVolumeClaim {
    var c = PersistentVolumeClaim.new(namespace: "default", name: name)
    c.spec.accessModes = modes
    c.spec.resources.requests = ["storage": storage]
    c.spec.storageClassName = storageClass
    c.spec.volumeName = volume
    return c
}

func storageClass(_ name: String, _ mode: VolumeBindingMode, provisioner: String = "kubernetes.io/no-provisioner") -> StorageClass {
    var c = StorageClass.new(name: name)
    c.provisioner = provisioner
    c.volumeBindingMode = mode
    return c
}

/// A local volume on `node` (its kubernetes.io/hostname), Available unless claimed.
func volume(_ name: String, storageClass: String, node: String?, storage: String = "1Gi", modes: [String] = ["ReadWriteOnce"]) -> PersistentVolume {
    var v = PersistentVolume.new(name: name)
    v.spec.capacity = ["storage": storage]
    v.spec.accessModes = modes
    v.spec.storageClassName = storageClass
    if let node {
        v.spec.nodeAffinity.required.nodeSelectorTerms = [.node(named: node)]
    }
    v.status.phase = .available
    return v
}

func podWithClaims(_ claims: [String], name: String = "p", ephemeral: [String] = []) -> PodInfo {
    let volumes = claims.enumerated().map { #"{"name": "v\#($0.offset)", "persistentVolumeClaim": {"claimName": "\#($0.element)"}}"# }
        + ephemeral.map { #"{"name": "\#($0)", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}"# }
    return pod(name, spec: #""volumes": [\#(volumes.joined(separator: ", "))]"#)
}

/// The binding client of bindNow: the fake's writes, and which of them came before each binding.
final class RecordingClient: BindingClient, @unchecked Sendable {
    let fake: FakeObjectClient
    var bindings: [(pod: String, node: String, writesBefore: [String])] = []
    init(_ fake: FakeObjectClient) { self.fake = fake }

    func bind(_ pod: PodInfo, to node: String) throws {
        bindings.append((pod.key, node, fake.takeActions().map(\.description)))
    }
    func get<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String) throws -> T? {
        try fake.get(type, namespace: namespace, name: name)
    }
    func list<T: KubernetesObject>(_ type: T.Type, namespace: String?, labelSelector: String?) throws -> [T] {
        try fake.list(type, namespace: namespace, labelSelector: labelSelector)
    }
    func create<T: KubernetesObject>(_ object: T) throws -> T { try fake.create(object) }
    func update<T: KubernetesObject>(_ object: T, subresource: String?) throws -> T { try fake.update(object, subresource: subresource) }
    func patch<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String, _ patch: JSONValue, _ kind: PatchKind,
                                    subresource: String?) throws -> T {
        try fake.patch(type, namespace: namespace, name: name, patch, kind, subresource: subresource)
    }
    func delete<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String, propagation: DeletionPropagation?,
                                     preconditionUID: String?) throws -> Bool {
        try fake.delete(type, namespace: namespace, name: name, propagation: propagation, preconditionUID: preconditionUID)
    }
}

@Suite(.timeLimit(.minutes(1))) struct VolumeBindingTests {
    @Test func missingOrDeletedClaimsKeepThePodOffEveryNode() throws {
        let fake = FakeObjectClient()
        let s = storageScheduler(fake)
        s.cache.updateNode(SchedulerBenchmark.syntheticNode(1))
        s.cache.updateNode(SchedulerBenchmark.syntheticNode(2))
        guard case .failure(let missing) = s.scheduleOne(podWithClaims(["data"])) else { Issue.record("scheduled without its claim"); return }
        #expect(missing.description == #"0/2 nodes are available: persistentvolumeclaim "data" not found."#)

        var deleting = claim("data", storageClass: "fast")
        deleting.metadata.deletionTimestamp = Date()
        fake.seed(deleting)
        guard case .failure(let deleted) = s.scheduleOne(podWithClaims(["data"])) else { Issue.record("scheduled on a deleted claim"); return }
        #expect(deleted.description == #"0/2 nodes are available: persistentvolumeclaim "data" is being deleted."#)

        // An ephemeral volume's claim is <pod>-<volume>, and must be the pod's own.
        guard case .failure(let ephemeral) = s.scheduleOne(podWithClaims([], name: "web", ephemeral: ["scratch"])) else { Issue.record("no claim"); return }
        #expect(ephemeral.description == #"0/2 nodes are available: persistentvolumeclaim "web-scratch" not found."#)
        fake.seed(claim("web-scratch", storageClass: "fast"))
        guard case .failure(let foreign) = s.scheduleOne(podWithClaims([], name: "web", ephemeral: ["scratch"])) else { Issue.record("not its claim"); return }
        #expect(foreign.description == #"0/2 nodes are available: persistentvolumeclaim "web-scratch" was not created for the pod."#)
        var owned = claim("web-scratch", storageClass: "fast")
        var owner = OwnerReference()
        owner.apiVersion = "v1"
        owner.kind = "Pod"
        owner.name = "web"
        owner.uid = "u-web"
        owner.controller = true
        owned.metadata.ownerReferences = [owner]
        fake.seed(owned)
        guard case .failure(let next) = s.scheduleOne(podWithClaims([], name: "web", ephemeral: ["scratch"])) else { Issue.record("class missing"); return }
        #expect(next.description == "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.", "past the claim checks")
    }

    @Test func unboundImmediateClaimsWaitForThePVController() {
        let fake = FakeObjectClient()
        fake.seed(storageClass("fast", .immediate, provisioner: "skiff.io/local-path"), storageClass("late", .waitForFirstConsumer))
        fake.seed(claim("a", storageClass: "fast"), claim("b"), claim("c", storageClass: "missing"))
        let s = storageScheduler(fake)
        s.cache.updateNode(SchedulerBenchmark.syntheticNode(1))
        for name in ["a", "b", "c"] {
            guard case .failure(let fit) = s.scheduleOne(podWithClaims([name])) else { Issue.record("\(name) scheduled"); continue }
            #expect(fit.description == "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.", "\(name)")
        }
    }

    @Test func boundVolumesNodeAffinityFiltersNodes() throws {
        let fake = FakeObjectClient()
        fake.seed(volume("pv-b", storageClass: "local", node: "b"))
        fake.seed(claim("data", storageClass: "local", volume: "pv-b"), claim("lost", storageClass: "local", volume: "pv-gone"))
        let binding = storageScheduler(fake).volumes
        let volumes = try binding.preFilter(podWithClaims(["data"]), usersOf: { _ in [] }).get()
        let framework = Framework()
        guard case .success(let chosen) = framework.schedule(podWithClaims(["data"]), nodes: [hostNode("a"), hostNode("b"), hostNode("c")], volumes: volumes)
        else { Issue.record("unschedulable"); return }
        #expect(chosen.name == "b")
        guard case .failure(let fit) = framework.schedule(podWithClaims(["data"]), nodes: [hostNode("a"), hostNode("c")], volumes: volumes)
        else { Issue.record("scheduled away from its volume"); return }
        #expect(fit.description == "0/2 nodes are available: 2 node(s) had volume node affinity conflict.")
        // A claim bound to a volume that doesn't exist fits no node.
        #expect(throws: VolumeRejection(reason: VolumeRejection.volumeMissing, perNode: true)) {
            try binding.preFilter(podWithClaims(["lost"]), usersOf: { _ in [] }).get()
        }
    }

    @Test func waitForFirstConsumerProvisionsOnTheChosenNodeBeforeBinding() throws {
        let fake = FakeObjectClient()
        fake.seed(storageClass("local-path", .waitForFirstConsumer, provisioner: "skiff.io/local-path"))
        fake.seed(claim("data", storageClass: "local-path"))
        let s = storageScheduler(fake)
        s.cache.updateNode(json(#"{"metadata": {"name": "a"}, "spec": {"unschedulable": true}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}, "conditions": [{"type": "Ready", "status": "True"}]}}"#))
        s.cache.updateNode(json(#"{"metadata": {"name": "b"}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}, "conditions": [{"type": "Ready", "status": "True"}]}}"#))
        let p = podWithClaims(["data"])
        guard case .success(let decision) = s.scheduleOne(p) else { Issue.record("unschedulable"); return }
        #expect(decision.node == "b")
        let data = try #require(try fake.get(PersistentVolumeClaim.self, namespace: "default", name: "data"))
        #expect(decision.steps == [.provision(data, on: "b")])

        // A second pod of the claim, before the informer shows the annotation: only node b will do.
        let second = try s.volumes.preFilter(podWithClaims(["data"], name: "q"), usersOf: { _ in [] }).get()
        #expect(second.unbound.first?.selectedNode == "b")
        #expect(second.filter(hostNode("c")) == "node(s) didn't find available persistent volumes to bind")

        _ = fake.takeActions()
        let client = RecordingClient(fake)
        s.bindNow(p, to: decision.node, steps: decision.steps, client: client)
        #expect(client.bindings.count == 1)
        #expect(client.bindings.first?.node == "b")
        #expect(client.bindings.first?.writesBefore == ["patch PersistentVolumeClaim default/data"], "the claim names its node before the pod is bound")
        let annotated = try #require(try fake.get(PersistentVolumeClaim.self, namespace: "default", name: "data"))
        #expect(annotated.metadata.annotations?["volume.kubernetes.io/selected-node"] == "b")
    }

    @Test func waitForFirstConsumerReservesAStaticVolumeOnAMatchingNodeOnly() throws {
        let fake = FakeObjectClient()
        fake.seed(storageClass("local", .waitForFirstConsumer))
        fake.seed(volume("pv-a-big", storageClass: "local", node: "a", storage: "10Gi"), volume("pv-a", storageClass: "local", node: "a", storage: "2Gi"),
                  volume("pv-b-small", storageClass: "local", node: "b", storage: "500Mi"), volume("pv-c-other", storageClass: "other", node: "c"),
                  volume("pv-c-rwx", storageClass: "local", node: "c", modes: ["ReadOnlyMany"]))
        fake.seed(claim("data", storageClass: "local"), claim("logs", storageClass: "local"))
        let s = storageScheduler(fake)
        for n in ["a", "b", "c"] { s.cache.updateNode(json(#"{"metadata": {"name": "\#(n)", "labels": {"kubernetes.io/hostname": "\#(n)"}}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}, "conditions": [{"type": "Ready", "status": "True"}]}}"#)) }

        // Only a has a volume that fits (b's is too small, c's are of another class or access mode).
        let volumes = try s.volumes.preFilter(podWithClaims(["data"]), usersOf: { _ in [] }).get()
        guard case .failure(let fit) = Framework().schedule(podWithClaims(["data"]), nodes: [hostNode("b"), hostNode("c")], volumes: volumes)
        else { Issue.record("scheduled without a volume"); return }
        #expect(fit.description == "0/2 nodes are available: 2 node(s) didn't find available persistent volumes to bind.")

        let p = podWithClaims(["data"])
        guard case .success(let decision) = s.scheduleOne(p) else { Issue.record("unschedulable"); return }
        #expect(decision.node == "a")
        guard case .reserve(let reserved, let forClaim) = decision.steps.first, decision.steps.count == 1 else { Issue.record("\(decision.steps)"); return }
        #expect(reserved.name == "pv-a" && forClaim.name == "data", "the smallest volume that fits")

        // The next claim doesn't get the reserved volume, though the informer still shows it Available.
        let next = try s.volumes.preFilter(podWithClaims(["logs"], name: "q"), usersOf: { _ in [] }).get()
        #expect(next.unbound.first?.candidates.map(\.volume.name) == ["pv-a-big"])

        _ = fake.takeActions()
        let client = RecordingClient(fake)
        s.bindNow(p, to: decision.node, steps: decision.steps, client: client)
        #expect(client.bindings.first?.writesBefore == ["update PersistentVolume pv-a"])
        let pv = try #require(try fake.get(PersistentVolume.self, namespace: nil, name: "pv-a"))
        let data = try #require(try fake.get(PersistentVolumeClaim.self, namespace: "default", name: "data"))
        #expect(pv.spec.claimRef.name == "data" && pv.spec.claimRef.namespace == "default" && pv.spec.claimRef.uid == data.uid)
        #expect(pv.spec.claimRef.kind == "PersistentVolumeClaim" && pv.spec.claimRef.apiVersion == "v1")
        #expect(data.metadata.annotations?["volume.kubernetes.io/selected-node"] == nil, "no provisioning for a static volume")
    }

    @Test func aVolumeTakenMeanwhileFailsTheBindingAndThePodRetries() throws {
        let fake = FakeObjectClient()
        fake.seed(storageClass("local", .waitForFirstConsumer))
        fake.seed(volume("pv-a", storageClass: "local", node: "a"))
        fake.seed(claim("data", storageClass: "local"))
        let s = storageScheduler(fake)
        s.cache.updateNode(json(#"{"metadata": {"name": "a", "labels": {"kubernetes.io/hostname": "a"}}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}, "conditions": [{"type": "Ready", "status": "True"}]}}"#))
        let p = podWithClaims(["data"])
        guard case .success(let decision) = s.scheduleOne(p) else { Issue.record("unschedulable"); return }
        // The PV controller binds the volume elsewhere before our write lands.
        var taken = try #require(try fake.get(PersistentVolume.self, namespace: nil, name: "pv-a"))
        taken.spec.claimRef = claim("other").objectReference
        _ = try fake.update(taken)
        let client = RecordingClient(fake)
        s.bindNow(p, to: decision.node, steps: decision.steps, client: client)
        #expect(client.bindings.isEmpty, "not bound")
        #expect(!s.cache.isScheduled(p.key))
        #expect(s.queue.pop().key == p.key, "retried after its back-off")
    }

    @Test func readWriteOncePodClaimsHaveOnePod() throws {
        let fake = FakeObjectClient()
        fake.seed(volume("pv", storageClass: "local", node: nil))
        fake.seed(claim("solo", storageClass: "local", volume: "pv", modes: ["ReadWriteOncePod"]), claim("shared", storageClass: "local", volume: "pv"))
        let s = storageScheduler(fake)
        s.cache.updateNode(SchedulerBenchmark.syntheticNode(1))
        s.cache.updateNode(SchedulerBenchmark.syntheticNode(2))
        var first = podWithClaims(["solo"], name: "first")
        guard case .success = s.scheduleOne(first) else { Issue.record("the first pod is unschedulable"); return }
        #expect(throws: Never.self) { try s.volumes.preFilter(first, usersOf: s.cache.users(ofClaim:)).get() }
        guard case .failure(let fit) = s.scheduleOne(podWithClaims(["solo"], name: "second")) else { Issue.record("two pods on a ReadWriteOncePod claim"); return }
        #expect(fit.description == "0/2 nodes are available: 2 node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode.")
        guard case .success = s.scheduleOne(podWithClaims(["shared"], name: "third")) else { Issue.record("ReadWriteOnce claims may be shared"); return }
        // Once the first pod has finished, the claim is free.
        first.nodeName = "node-1"
        s.cache.podPlaced(first, terminal: true)
        guard case .success = s.scheduleOne(podWithClaims(["solo"], name: "second")) else { Issue.record("the claim is free"); return }
    }

    @Test func podsWaitingOnAClaimRetryWhenItAppears() throws {
        let fake = FakeObjectClient()
        fake.seed(storageClass("local-path", .waitForFirstConsumer, provisioner: "skiff.io/local-path"))
        let s = storageScheduler(fake)
        s.cache.updateNode(SchedulerBenchmark.syntheticNode(1))
        let p = try JSONValue.parse(#"{"metadata": {"name": "p", "namespace": "default", "uid": "u-p"}, "spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}], "containers": [{"name": "c", "image": "i"}]}}"#)
        s.podChanged(p)
        guard case .failure = s.scheduleOne(s.queue.pop()) else { Issue.record("scheduled without its claim"); return }
        let data = claim("data", storageClass: "local-path")
        fake.seed(data)
        s.claimChanged(nil, data)
        let start = Date()
        let retried = s.queue.pop()
        #expect(Date().timeIntervalSince(start) < 5, "back after its back-off, not the minute-long wait")
        guard case .success(let decision) = s.scheduleOne(retried) else { Issue.record("unschedulable with its claim"); return }
        #expect(decision.node == "node-1" && s.cache.isScheduled("default/p"))
    }

    @Test func podsWithoutClaimsHaveNone() {
        #expect(pod().claims.isEmpty)
        #expect(PodInfo(SchedulerBenchmark.syntheticPod(5)).claims.isEmpty)
        #expect(podWithClaims(["a"], name: "web", ephemeral: ["tmp"]).claims == [PodClaimVolume(volume: "v0", claimName: "a", ephemeral: false), PodClaimVolume(volume: "tmp", claimName: "web-tmp", ephemeral: true)])
    }
}
