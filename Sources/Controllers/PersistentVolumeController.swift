// The PV controller (kube-controller-manager's persistentvolume-binder): binds claims to volumes
// and keeps both halves of a binding and their phases right.
// - A claim without a volume gets one reserved for it (claimRef), else the smallest Available
//   volume that satisfies it; WaitForFirstConsumer claims bind only once the scheduler picked a
//   node (a static volume it pre-reserved, or dynamic provisioning on that node).
// - Claims nothing satisfies but whose class has a provisioner are annotated for it (the nodes'
//   local-path provisioner, or any external one); Immediate local-path claims get a node here.
// - A volume whose claim is gone is Released; Delete-policy volumes of the local-path
//   provisioner are then removed by their node, others fail with an event-worthy message.
// - A bound claim of an expandable local-path class that asks for more gets it (no quota on a
//   directory: the capacity is what was asked for).
import API
import Client
import Foundation
import Synchronization

final class PersistentVolumeController: Controller, InitialKeys, @unchecked Sendable {
    let name = "persistentvolume-binder"
    let queue = WorkQueue()
    let workers = 2
    let claims: Lister<PersistentVolumeClaim>
    let volumes: Lister<PersistentVolume>
    let classes: Lister<StorageClass>
    let nodes: Lister<Node>
    let events: EventRecorder?
    /// The reason last reported per claim, so a waiting claim gets one event, not one per sync.
    let reported = Mutex<[String: String]>([:])

    /// Volume keys are queued as "pv:<name>"; claim keys are "namespace/name".
    static let volumePrefix = "pv:"

    init(claims: Lister<PersistentVolumeClaim>, volumes: Lister<PersistentVolume>, classes: Lister<StorageClass>,
         nodes: Lister<Node>, events: EventRecorder?) {
        self.claims = claims
        self.volumes = volumes
        self.classes = classes
        self.nodes = nodes
        self.events = events
    }

    func watch(claims: Informer, volumes: Informer, classes: Informer) {
        claims.onChange(PersistentVolumeClaim.self) { [self] old, new in
            if let c = new ?? old { queue.add(c.key) }
            // A claim that went away releases its volume.
            if new == nil, let name = old?.spec.volumeName, !name.isEmpty { queue.add(Self.volumePrefix + name) }
        }
        volumes.onChange(PersistentVolume.self) { [self] old, new in
            guard let pv = new ?? old else { return }
            queue.add(Self.volumePrefix + pv.name)
            let ref = pv.spec.claimRef
            if let n = ref.name, let ns = ref.namespace { queue.add(ns + "/" + n) }
            // A new free volume may be what a waiting claim needs.
            if old == nil || (new?.status.phase == .available && old?.status.phase != .available) { requeueWaitingClaims() }
        }
        classes.onChange(StorageClass.self) { [self] _, _ in requeueWaitingClaims() }
    }

    func initialKeys() -> [String] {
        claims.list().map(\.key) + volumes.list().map { Self.volumePrefix + $0.name }
    }

    private func requeueWaitingClaims() {
        for c in claims.list() where (c.spec.volumeName ?? "").isEmpty { queue.add(c.key) }
    }

    func sync(_ key: String, client: APIClient) throws { try sync(key, client: client as ObjectClient) }

    func sync(_ key: String, client: ObjectClient) throws {
        if key.hasPrefix(Self.volumePrefix) {
            if let pv = volumes.get(String(key.dropFirst(Self.volumePrefix.count))) { try syncVolume(pv, client: client) }
        } else if let claim = claims.get(key) {
            try syncClaim(claim, client: client)
        } else {
            reported.withLock { $0[key] = nil }
        }
    }

    // MARK: claims

    func syncClaim(_ claim: PersistentVolumeClaim, client: ObjectClient) throws {
        if claim.isBeingDeleted { return }
        if let volumeName = claim.spec.volumeName, !volumeName.isEmpty {
            return try syncBoundClaim(claim, volumeName: volumeName, client: client)
        }
        let all = volumes.list()
        let className = VolumeMatching.className(claim)
        let storageClass = className.isEmpty ? nil : classes.get(className)
        let waitsForConsumer = storageClass?.volumeBindingMode == .waitForFirstConsumer
        let selectedNode = claim.metadata.annotations?[StorageRules.selectedNodeAnnotation]
        // Reserved volumes bind whatever the mode (the scheduler or a provisioner reserved them).
        if let reserved = all.first(where: { VolumeMatching.isReserved($0, for: claim) && VolumeMatching.satisfies($0, claim) }) {
            return try bind(claim, to: reserved, client: client)
        }
        if !waitsForConsumer, let pv = VolumeMatching.bestMatch(for: claim, in: all) {
            return try bind(claim, to: pv, client: client)
        }
        guard let storageClass else {
            let why = className.isEmpty ? "no persistent volumes available for this claim and no storage class is set"
                                        : "storageclass.storage.k8s.io \"\(className)\" not found"
            return report(claim, type: "Warning", reason: "ProvisioningFailed", message: why)
        }
        if waitsForConsumer && selectedNode == nil {
            return report(claim, type: "Normal", reason: "WaitForFirstConsumer", message: "waiting for first consumer to be created before binding")
        }
        let provisioner = storageClass.provisioner ?? ""
        if provisioner == "kubernetes.io/no-provisioner" {
            return report(claim, type: "Normal", reason: "FailedBinding", message: "no persistent volumes available for this claim and no storage class is set")
        }
        var annotations = claim.metadata.annotations ?? [:]
        var wanted = annotations
        wanted[StorageRules.provisionerAnnotation] = provisioner
        wanted[StorageRules.betaProvisionerAnnotation] = provisioner
        if provisioner == StorageRules.localPathProvisioner, selectedNode == nil {
            guard let node = nodeForImmediateClaim(claim) else {
                return report(claim, type: "Warning", reason: "ProvisioningFailed", message: "no ready node to provision a local-path volume on")
            }
            wanted[StorageRules.selectedNodeAnnotation] = node
        }
        if wanted != annotations {
            var updated = claim
            annotations = wanted
            updated.metadata.annotations = annotations
            _ = try client.update(updated)
        }
        report(claim, type: "Normal", reason: "ExternalProvisioning",
               message: "Waiting for a volume to be created either by the external provisioner '\(provisioner)' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.")
    }

    /// An Immediate local-path claim's node: a ready, schedulable one, spread by the claim's uid.
    func nodeForImmediateClaim(_ claim: PersistentVolumeClaim) -> String? {
        let ready = nodes.list().filter { node in
            node.spec.unschedulable != true && node.status.conditions.contains { $0.type == "Ready" && $0.status == .true }
        }.map(\.name).sorted()
        guard !ready.isEmpty else { return nil }
        return ready[VolumeMatching.spread(claim) % ready.count]
    }

    /// Both halves: the volume's claimRef and phase first (so a crash in between leaves a
    /// reservation the next sync completes), then the claim's volumeName and status.
    func bind(_ claim: PersistentVolumeClaim, to pv: PersistentVolume, client: ObjectClient) throws {
        var volume = pv
        let byController = !VolumeMatching.isReserved(pv, for: claim)
        if byController || (pv.spec.claimRef.uid ?? "").isEmpty {
            var ref = claim.objectReference
            ref.resourceVersion = claim.metadata.resourceVersion
            volume.spec.claimRef = ref
            if byController { volume.metadata.annotations = (volume.metadata.annotations ?? [:]).merging([StorageRules.boundByControllerAnnotation: "yes"]) { $1 } }
            volume = try client.update(volume)
        }
        if volume.status.phase != .bound {
            volume.status.phase = .bound
            volume = try client.updateStatus(volume)
        }
        var bound = claim
        bound.spec.volumeName = pv.name
        var annotations = bound.metadata.annotations ?? [:]
        annotations[StorageRules.bindCompletedAnnotation] = "yes"
        if byController { annotations[StorageRules.boundByControllerAnnotation] = "yes" }
        bound.metadata.annotations = annotations
        bound = try client.update(bound)
        try markBound(bound, volume: volume, client: client)
        reported.withLock { $0[claim.key] = nil }
    }

    func markBound(_ claim: PersistentVolumeClaim, volume: PersistentVolume, client: ObjectClient) throws {
        var updated = claim
        updated.status.phase = "Bound"
        updated.status.accessModes = volume.spec.accessModes
        updated.status.capacity = volume.spec.capacity
        if updated != claim { _ = try client.updateStatus(updated) }
    }

    func syncBoundClaim(_ claim: PersistentVolumeClaim, volumeName: String, client: ObjectClient) throws {
        guard let pv = volumes.get(volumeName) else {
            if claim.status.phase == "Bound" {
                var lost = claim
                lost.status.phase = "Lost"
                _ = try client.updateStatus(lost)
                report(claim, type: "Warning", reason: "ClaimLost", message: "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
            }
            return
        }
        // The claim names the volume (a user pre-binding it, or our half-done bind): complete it.
        if !VolumeMatching.isReserved(pv, for: claim) || pv.status.phase != .bound {
            if pv.spec.claimRef.isSet && !VolumeMatching.isReserved(pv, for: claim) {
                return report(claim, type: "Warning", reason: "FailedBinding", message: "volume \"\(volumeName)\" already bound to a different claim.")
            }
            return try bind(claim, to: pv, client: client)
        }
        try expandIfAsked(claim, volume: pv, client: client)
        if claim.status.phase != "Bound" || claim.status.capacity == nil { try markBound(claim, volume: pv, client: client) }
    }

    /// Local-path volumes grow by asking: the new request becomes the volume's capacity.
    func expandIfAsked(_ claim: PersistentVolumeClaim, volume: PersistentVolume, client: ObjectClient) throws {
        guard let wanted = VolumeMatching.requestedBytes(claim), let has = VolumeMatching.capacityBytes(volume), wanted > has,
              volume.metadata.annotations?[StorageRules.provisionedByAnnotation] == StorageRules.localPathProvisioner,
              let cls = classes.get(VolumeMatching.className(claim)), cls.allowVolumeExpansion == true,
              let request = VolumeMatching.request(claim) else { return }
        var grown = volume
        grown.spec.capacity = (grown.spec.capacity ?? [:]).merging(["storage": request]) { $1 }
        grown = try client.update(grown)
        var updated = claim
        updated.status.capacity = grown.spec.capacity
        _ = try client.updateStatus(updated)
        events?.object(claim, reason: "VolumeResizeSuccessful", message: "resize volume \"\(volume.name)\" to \(request) succeeded (local-path directories have no size limit)")
    }

    /// One event per distinct reason while a claim waits (re-syncs stay quiet).
    func report(_ claim: PersistentVolumeClaim, type: String, reason: String, message: String) {
        let fresh = reported.withLock { seen -> Bool in
            defer { seen[claim.key] = reason + message }
            return seen[claim.key] != reason + message
        }
        if fresh { events?.object(claim, type: type, reason: reason, message: message) }
    }

    // MARK: volumes

    func syncVolume(_ pv: PersistentVolume, client: ObjectClient) throws {
        let ref = pv.spec.claimRef
        guard ref.isSet, let claimName = ref.name else {
            if pv.status.phase != .available && pv.status.phase != .failed && !pv.isBeingDeleted {
                var free = pv
                free.status.phase = .available
                _ = try client.updateStatus(free)
            }
            return
        }
        let claim = claims.get((ref.namespace ?? "") + "/" + claimName)
        if let claim, (ref.uid ?? "").isEmpty || ref.uid == claim.uid {
            // Reserved for a claim that exists: the claim's sync binds; a claim bound elsewhere
            // frees a volume we reserved.
            if let other = claim.spec.volumeName, !other.isEmpty, other != pv.name,
               pv.metadata.annotations?[StorageRules.boundByControllerAnnotation] == "yes" {
                var freed = pv
                freed.spec.claimRef = ObjectReference()
                freed.metadata.annotations?[StorageRules.boundByControllerAnnotation] = nil
                freed = try client.update(freed)
                freed.status.phase = .available
                _ = try client.updateStatus(freed)
            } else if pv.status.phase != .bound && pv.status.phase != .available && claim.spec.volumeName == pv.name {
                var bound = pv
                bound.status.phase = .bound
                _ = try client.updateStatus(bound)
            } else if pv.status.phase == .pending {
                var free = pv
                free.status.phase = .available
                _ = try client.updateStatus(free)
            }
            return
        }
        // Pre-reserved (no uid) for a claim not made yet: stays available for it.
        if (ref.uid ?? "").isEmpty {
            if pv.status.phase != .available {
                var free = pv
                free.status.phase = .available
                _ = try client.updateStatus(free)
            }
            return
        }
        // The claim is gone: released, then reclaimed by policy.
        var released = pv
        if pv.status.phase != .released && pv.status.phase != .failed {
            released.status.phase = .released
            released = try client.updateStatus(released)
        }
        guard released.status.phase == .released else { return }
        switch pv.spec.reclaimPolicy ?? .retain {
        case .retain: return
        case .delete where pv.metadata.annotations?[StorageRules.provisionedByAnnotation] == StorageRules.localPathProvisioner:
            return   // the node that holds the directory removes it, then the volume
        case .delete where pv.metadata.annotations?[StorageRules.provisionedByAnnotation] != nil:
            return   // another (external) provisioner's to delete
        default:
            released.status.phase = .failed
            released.status.message = pv.spec.reclaimPolicy == .delete
                ? "error getting deleter volume plugin for volume \"\(pv.name)\": no deletable volume plugin matched"
                : "no volume plugin matched name: kubernetes.io/\(pv.spec.hostPath.isSet ? "host-path" : "local-volume")"
            released.status.reason = "VolumeFailedRecycle"
            _ = try client.updateStatus(released)
        }
    }
}
