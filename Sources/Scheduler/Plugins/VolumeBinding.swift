// VolumeBinding, and the ReadWriteOncePod part of VolumeRestrictions, as kube-scheduler has them.
// PreFilter reads the pod's claims once: a missing claim, one being deleted, or an unbound one of
// an Immediate class keeps the pod off every node (the PV controller binds those on its own). The
// per-node filter then only matches node labels: each bound volume's node affinity, and for each
// unbound WaitForFirstConsumer claim an Available volume reachable from the node, else the class's
// provisioner. Once a node is chosen, PreBind writes the decision before the pod is bound: a static
// volume gets spec.claimRef (the PV controller completes the binding), a claim to provision gets
// the volume.kubernetes.io/selected-node annotation.
import API
import Client
import Synchronization

/// Why a pod's volumes keep it off the nodes, in kube-scheduler's words.
struct VolumeRejection: Error, Equatable {
    var reason: String
    /// Every node gives this reason (a filter's, counted per node), rather than the pod (PreFilter's).
    var perNode = false

    static let affinityConflict = "node(s) had volume node affinity conflict"
    static let bindConflict = "node(s) didn't find available persistent volumes to bind"
    static let unboundImmediate = "pod has unbound immediate PersistentVolumeClaims"
    static let volumeMissing = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
    static let readWriteOncePodConflict = "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
}

extension FitError {
    init(_ r: VolumeRejection, nodes: Int) {
        self.init(nodes: nodes, reasons: r.perNode && nodes > 0 ? [r.reason: nodes] : [:], podReason: r.perNode ? nil : r.reason)
    }
}

/// A write PreBind makes once the node is chosen.
enum VolumeStep: Sendable, Equatable {
    /// A static volume for the claim: its spec.claimRef, which the PV controller completes.
    case reserve(PersistentVolume, for: PersistentVolumeClaim)
    /// The node the claim's provisioner is to make its volume on.
    case provision(PersistentVolumeClaim, on: String)
}

/// What PreFilter found out about a pod's claims, so the per-node filter reads no lister.
struct PodVolumes: Sendable {
    /// Each bound volume's required node affinity (all must match the node).
    var boundAffinity: [[[NodeRequirement]]] = []
    /// The WaitForFirstConsumer claims still unbound.
    var unbound: [UnboundClaim] = []

    struct Candidate: Sendable {
        var volume: PersistentVolume
        var affinity: [[NodeRequirement]]
    }

    struct UnboundClaim: Sendable {
        var claim: PersistentVolumeClaim
        /// Volumes that would do, best first: the smallest (or only the one reserved for this claim).
        var candidates: [Candidate] = []
        var provisionable: Bool
        /// Where provisioning was asked for already (the annotation, or our write in flight).
        var selectedNode: String?
    }

    var isEmpty: Bool { boundAffinity.isEmpty && unbound.isEmpty }

    func filter(_ node: NodeInfo) -> String? {
        for terms in boundAffinity where !NodeRequirement.anyTermMatches(terms, labels: node.labels, nodeName: node.name) {
            return VolumeRejection.affinityConflict
        }
        return unbound.isEmpty || steps(on: node) != nil ? nil : VolumeRejection.bindConflict
    }

    /// The unbound claims' writes for `node`; nil when a claim finds neither a volume nor a provisioner there.
    func steps(on node: NodeInfo) -> [VolumeStep]? {
        var steps: [VolumeStep] = []
        var taken = Set<String>()
        for u in unbound {
            if let selected = u.selectedNode {
                // Its volume is being provisioned for that node: the pod goes there or waits.
                guard selected == node.name else { return nil }
                continue
            }
            let fit = u.candidates.first { c in
                !taken.contains(c.volume.name) && NodeRequirement.anyTermMatches(c.affinity, labels: node.labels, nodeName: node.name)
            }
            if let fit {
                taken.insert(fit.volume.name)
                steps.append(.reserve(fit.volume, for: u.claim))
            } else if u.provisionable {
                steps.append(.provision(u.claim, on: node.name))
            } else {
                return nil
            }
        }
        return steps
    }
}

final class VolumeBinding: Sendable {
    let claims: Lister<PersistentVolumeClaim>
    let volumes: Lister<PersistentVolume>
    let classes: Lister<StorageClass>

    /// PreBind writes the informers don't show yet, so the next pod neither takes the same volume
    /// nor provisions the same claim elsewhere (kube-scheduler's assume cache).
    private struct Pending {
        var reservedVolumes: [String: ObjectReference] = [:]
        var selectedNodes: [String: String] = [:]
    }
    private let pending = Mutex(Pending())

    init(claims: Lister<PersistentVolumeClaim>, volumes: Lister<PersistentVolume>, classes: Lister<StorageClass>) {
        self.claims = claims
        self.volumes = volumes
        self.classes = classes
    }

    /// `usersOf(claimKey)`: the keys of the pods (assumed or on a node, not finished) using a claim.
    func preFilter(_ pod: PodInfo, usersOf: (String) -> Set<String>) -> Result<PodVolumes, VolumeRejection> {
        let pending = self.pending.withLock { $0 }
        var result = PodVolumes()
        var unboundImmediate = false, readWriteOncePodConflict = false, volumeMissing = false
        for c in pod.claims {
            let key = pod.namespace + "/" + c.claimName
            guard let claim = claims.get(key) else { return .failure(VolumeRejection(reason: "persistentvolumeclaim \"\(c.claimName)\" not found")) }
            if claim.isBeingDeleted { return .failure(VolumeRejection(reason: "persistentvolumeclaim \"\(c.claimName)\" is being deleted")) }
            if c.ephemeral, claim.controllerRef?.uid != pod.uid {
                return .failure(VolumeRejection(reason: "persistentvolumeclaim \"\(c.claimName)\" was not created for the pod"))
            }
            if claim.spec.accessModes?.contains("ReadWriteOncePod") == true, usersOf(key).contains(where: { $0 != pod.key }) {
                readWriteOncePodConflict = true
            }
            if let name = claim.spec.volumeName, !name.isEmpty {
                guard let volume = volumes.get(name) else { volumeMissing = true; continue }
                let terms = Self.affinity(volume)
                if !terms.isEmpty { result.boundAffinity.append(terms) }
                continue
            }
            guard let className = claim.spec.storageClassName, let storageClass = classes.get(className),
                  storageClass.volumeBindingMode == .waitForFirstConsumer else {
                unboundImmediate = true
                continue
            }
            result.unbound.append(unboundClaim(claim, storageClass, pending))
        }
        if unboundImmediate { return .failure(VolumeRejection(reason: VolumeRejection.unboundImmediate)) }
        if readWriteOncePodConflict { return .failure(VolumeRejection(reason: VolumeRejection.readWriteOncePodConflict, perNode: true)) }
        if volumeMissing { return .failure(VolumeRejection(reason: VolumeRejection.volumeMissing, perNode: true)) }
        return .success(result)
    }

    /// The volumes that could serve an unbound claim (kube-scheduler's findMatchingVolume, with the node left to the filter).
    private func unboundClaim(_ claim: PersistentVolumeClaim, _ storageClass: StorageClass, _ pending: Pending) -> PodVolumes.UnboundClaim {
        let provisioner = storageClass.provisioner ?? ""
        var u = PodVolumes.UnboundClaim(claim: claim, provisionable: !provisioner.isEmpty && provisioner != "kubernetes.io/no-provisioner",
                                        selectedNode: claim.metadata.annotations?[StorageRules.selectedNodeAnnotation] ?? pending.selectedNodes[claim.key])
        guard u.selectedNode == nil else { return u }
        var found: [(volume: PersistentVolume, size: Int64)] = []
        for volume in volumes.list() where !volume.isBeingDeleted {
            let ref = pending.reservedVolumes[volume.name] ?? volume.spec.claimRef
            if ref.isSet {
                // A volume reserved for this claim is the only one it may have.
                var reserved = volume
                reserved.spec.claimRef = ref
                guard VolumeMatching.isReserved(reserved, for: claim), VolumeMatching.satisfies(volume, claim) else { continue }
                u.candidates = [PodVolumes.Candidate(volume: volume, affinity: Self.affinity(volume))]
                u.provisionable = false
                return u
            }
            guard volume.status.phase == .available, VolumeMatching.satisfies(volume, claim) else { continue }
            found.append((volume, VolumeMatching.capacityBytes(volume) ?? 0))
        }
        u.candidates = found.sorted { ($0.size, $0.volume.name) < ($1.size, $1.volume.name) }
            .map { PodVolumes.Candidate(volume: $0.volume, affinity: Self.affinity($0.volume)) }
        return u
    }

    /// PreBind: the decision's writes, before the pod is bound. The volume's update carries the
    /// resourceVersion PreFilter saw, so a volume taken meanwhile is a conflict and the pod retries.
    func preBind(_ steps: [VolumeStep], client: some ObjectClient) throws {
        for step in steps {
            switch step {
            case .reserve(var volume, let claim):
                guard !VolumeMatching.isReserved(volume, for: claim) else { continue }
                volume.spec.claimRef = claim.objectReference
                _ = try client.update(volume)
            case .provision(let claim, let node):
                var patch = PersistentVolumeClaim()
                patch.metadata.annotations = [StorageRules.selectedNodeAnnotation: node]
                _ = try client.patch(PersistentVolumeClaim.self, namespace: claim.namespace, name: claim.name, patch.json)
            }
        }
    }

    /// Remembers a decision's writes until the informers show them.
    func assume(_ steps: [VolumeStep]) {
        guard !steps.isEmpty else { return }
        pending.withLock { p in
            for step in steps {
                switch step {
                case .reserve(let volume, let claim): p.reservedVolumes[volume.name] = claim.objectReference
                case .provision(let claim, let node): p.selectedNodes[claim.key] = node
                }
            }
        }
    }

    /// The writes failed (or were never made).
    func forget(_ steps: [VolumeStep]) {
        guard !steps.isEmpty else { return }
        pending.withLock { p in
            for step in steps {
                switch step {
                case .reserve(let volume, _): p.reservedVolumes[volume.name] = nil
                case .provision(let claim, _): p.selectedNodes[claim.key] = nil
                }
            }
        }
    }

    /// A volume as its informer shows it: once it has a claimRef (or is gone), nothing is pending for it.
    func volumeChanged(_ name: String, _ volume: PersistentVolume?) {
        guard volume.map({ !($0.spec.claimRef.name ?? "").isEmpty }) ?? true else { return }
        pending.withLock { _ = $0.reservedVolumes.removeValue(forKey: name) }
    }

    /// A claim as its informer shows it: once it names its node (or is gone), nothing is pending for it.
    func claimChanged(_ key: String, _ claim: PersistentVolumeClaim?) {
        guard claim.map({ $0.metadata.annotations?[StorageRules.selectedNodeAnnotation] != nil }) ?? true else { return }
        pending.withLock { _ = $0.selectedNodes.removeValue(forKey: key) }
    }

    static func affinity(_ volume: PersistentVolume) -> [[NodeRequirement]] {
        volume.spec.nodeAffinity.required.nodeSelectorTerms.map { NodeRequirement.term($0.json) }
    }
}
