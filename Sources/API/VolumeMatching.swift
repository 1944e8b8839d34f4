// Which PersistentVolume may serve a claim: shared by the PV controller (binding) and the
// scheduler (a WaitForFirstConsumer claim's static volumes on the chosen node). Kubernetes'
// rules: same class, access modes a superset of the claim's, same volume mode, capacity at least
// the request, the claim's selector matching the volume's labels, and the volume free (or
// reserved for this claim); of those, the smallest.

public enum VolumeMatching {
    static func bytes(_ text: String?) -> Int64? { text.flatMap { try? Quantity(parsing: $0).value } }

    /// The claim's resources.requests.storage as written ("1Gi"), and in bytes.
    public static func request(_ claim: PersistentVolumeClaim) -> String? { claim.spec.resources.requests?["storage"] }
    public static func requestedBytes(_ claim: PersistentVolumeClaim) -> Int64? { bytes(request(claim)) }
    public static func capacityBytes(_ pv: PersistentVolume) -> Int64? { bytes(pv.spec.capacity?["storage"]) }

    /// The class a claim asks for: "" when none (it then only binds volumes without a class).
    public static func className(_ claim: PersistentVolumeClaim) -> String { claim.spec.storageClassName ?? "" }

    /// The volume is reserved for this claim (claimRef by name, and by uid once it has one).
    public static func isReserved(_ pv: PersistentVolume, for claim: PersistentVolumeClaim) -> Bool {
        let ref = pv.spec.claimRef
        guard ref.name == claim.name, (ref.namespace ?? "") == claim.namespace else { return false }
        return (ref.uid ?? "").isEmpty || ref.uid == claim.uid
    }

    /// Whether `pv` can hold `claim`'s data (node reachability aside).
    public static func satisfies(_ pv: PersistentVolume, _ claim: PersistentVolumeClaim) -> Bool {
        guard !pv.isBeingDeleted, pv.spec.storageClassName ?? "" == className(claim),
              (pv.spec.volumeMode ?? "Filesystem") == (claim.spec.volumeMode ?? "Filesystem"),
              Set(claim.spec.accessModes ?? []).isSubset(of: Set(pv.spec.accessModes ?? [])),
              let capacity = capacityBytes(pv), capacity >= (requestedBytes(claim) ?? 0) else { return false }
        if claim.spec.selector.isSet {
            guard let selector = try? labelSelector(from: claim.spec.selector.json),
                  selector.matches(pv.metadata.labels ?? [:]) else { return false }
        }
        return true
    }

    /// The nodes a volume's node affinity names by hostname (a local volume's: its one node).
    public static func pinnedNodes(_ pv: PersistentVolume) -> [String] {
        pv.spec.nodeAffinity.required.nodeSelectorTerms.flatMap { term in
            term.matchExpressions.filter { $0.key == NodeSelectorTerm.hostnameLabel && $0.op == "In" }.flatMap { $0.values ?? [] }
        }
    }

    /// A node can reach the volume: no node affinity, or one of its terms matches the node.
    public static func reachable(_ pv: PersistentVolume, nodeName: String, labels: [String: String]) -> Bool {
        guard pv.spec.nodeAffinity.isSet else { return true }
        let terms = pv.spec.nodeAffinity.required.nodeSelectorTerms.map { NodeRequirement.term($0.json) }
        return !terms.isEmpty && NodeRequirement.anyTermMatches(terms, labels: labels, nodeName: nodeName)
    }

    /// A number fixed for a claim (from its uid), to spread choices among equals.
    public static func spread(_ claim: PersistentVolumeClaim) -> Int {
        claim.uid.utf8.reduce(0) { ($0 &* 31 &+ Int($1)) & 0x7fff_ffff }
    }

    /// The volume to bind: one reserved for the claim if any, else the smallest free one that
    /// satisfies it (and that `node` can reach, when given).
    public static func bestMatch(for claim: PersistentVolumeClaim, in volumes: [PersistentVolume],
                                 node: (name: String, labels: [String: String])? = nil) -> PersistentVolume? {
        func usable(_ pv: PersistentVolume) -> Bool {
            satisfies(pv, claim) && (node.map { reachable(pv, nodeName: $0.name, labels: $0.labels) } ?? true)
        }
        if let reserved = volumes.first(where: { isReserved($0, for: claim) && usable($0) }) { return reserved }
        let free = volumes.filter { !$0.spec.claimRef.isSet && $0.status.phase != .released && $0.status.phase != .failed && usable($0) }
        guard let smallest = free.map({ capacityBytes($0) ?? 0 }).min() else { return nil }
        // Of the equally small, one picked by the claim's uid: claims binding at the same time
        // then mostly want different volumes instead of all racing for the first by name.
        let ties = free.filter { (capacityBytes($0) ?? 0) == smallest }.sorted { $0.name < $1.name }
        return ties[spread(claim) % ties.count]
    }
}

/// A pod volume backed by a claim: a persistentVolumeClaim volume's, or an ephemeral volume's,
/// whose claim `<pod>-<volume>` the ephemeral volume controller makes for the pod.
public struct PodClaimVolume: Equatable, Sendable {
    public var volume: String
    public var claimName: String
    public var ephemeral: Bool
    /// The source's readOnly (every mount of the volume is then read-only).
    public var readOnly: Bool

    public init(volume: String, claimName: String, ephemeral: Bool, readOnly: Bool = false) {
        self.volume = volume
        self.claimName = claimName
        self.ephemeral = ephemeral
        self.readOnly = readOnly
    }

    /// The claim an ephemeral volume of pod `podName` gets.
    public static func ephemeralClaimName(pod podName: String, volume: String) -> String { podName + "-" + volume }
}

extension PodSpec {
    /// The claims this pod's volumes use (most pods: none).
    public func claimVolumes(podName: String) -> [PodClaimVolume] {
        volumes.compactMap { v in
            guard let name = v.name else { return nil }
            if let claim = v.persistentVolumeClaim.claimName {
                return PodClaimVolume(volume: name, claimName: claim, ephemeral: false, readOnly: v.persistentVolumeClaim.readOnly == true)
            }
            guard v.ephemeral.isSet else { return nil }
            return PodClaimVolume(volume: name, claimName: PodClaimVolume.ephemeralClaimName(pod: podName, volume: name), ephemeral: true)
        }
    }
}

extension Pod {
    public var claimVolumes: [PodClaimVolume] { spec.claimVolumes(podName: name) }
}
