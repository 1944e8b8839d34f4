// The built-in local-path provisioner (our own take on k3s's rancher.io/local-path), run by the
// agent of each node for the volumes on that node: a claim of a `skiff.io/local-path` class whose
// selected node is this one gets a directory <root-dir>/storage/pvc-<claim uid> and a hostPath
// PersistentVolume pinned to this node (the PV controller then binds the two); a Released volume
// of reclaim policy Delete loses its directory, then the PV is deleted. Nothing a user writes can
// point the removal anywhere else: the directory must be the PV's own, directly under the storage
// root, reached without symlinks, and the tree is removed without following links or crossing
// mount points.
import API
import Client
import Foundation
import Runtime
#if canImport(Glibc)
import Glibc
#endif

/// @unchecked Sendable: everything is set in init and never changes; the queue locks itself.
final class LocalPathProvisioner: @unchecked Sendable {
    static let provisioner = "skiff.io/local-path"
    /// The names shared with the PV controller and the scheduler (API's StorageRules).
    static let provisionerAnnotation = StorageRules.provisionerAnnotation
    static let betaProvisionerAnnotation = StorageRules.betaProvisionerAnnotation
    static let selectedNodeAnnotation = StorageRules.selectedNodeAnnotation
    static let provisionedByAnnotation = StorageRules.provisionedByAnnotation
    /// The label the agent registers its Node with (NodeAgent.nodeObject): the PV's node affinity.
    static let hostnameLabel = NodeSelectorTerm.hostnameLabel

    /// Records an event about a claim or a volume (type, reason, message).
    typealias Recorder = (_ object: any KubernetesObject, _ type: String, _ reason: String, _ message: String) -> Void

    let node: String
    /// <root-dir>/storage, symlinks resolved (the PVs carry this path).
    let storageRoot: String
    let claims: Lister<PersistentVolumeClaim>
    let volumes: Lister<PersistentVolume>
    let record: Recorder
    let log: (String) -> Void
    let queue = WorkQueue()

    /// Creates <rootDir>/storage (mode 0711: pods reach their directories by bind mount, other
    /// host users cannot list them).
    init(node: String, rootDir: String, claims: Lister<PersistentVolumeClaim>, volumes: Lister<PersistentVolume>,
         record: @escaping Recorder, log: @escaping (String) -> Void = { _ in }) throws {
        let root = rootDir + "/storage"
        try FileIO.mkdirAll(root, mode: 0o711)
        guard let real = realpath(root, nil) else { throw PodConfigError("local-path storage root \(root): \(String(cString: strerror(errno)))") }
        storageRoot = String(cString: real)
        free(real)
        self.node = node
        self.claims = claims
        self.volumes = volumes
        self.record = record
        self.log = log
    }

    // MARK: running in the agent

    /// Watches claims and volumes and works the queue on a thread of its own.
    func start(server: String, claimInformer: Informer, volumeInformer: Informer) {
        claimInformer.onChange(PersistentVolumeClaim.self) { [self] _, new in
            if let new, wantsVolume(new) { queue.add("pvc:" + new.key) }
        }
        volumeInformer.onChange(PersistentVolume.self) { [self] _, new in
            if let new, new.metadata.annotations?[Self.provisionedByAnnotation] == Self.provisioner { queue.add("pv:" + new.key) }
        }
        claimInformer.start()
        volumeInformer.start()
        Thread.detachNewThread { [self] in work(server: server) }
    }

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    private func work(server: String) {
        var client: APIClient?
        while true {
            let key = queue.get()
            if client == nil { client = try? APIClient(server: server) }
            if let client {
                do {
                    try sync(key, client: client)
                    queue.forget(key)
                } catch {
                    log("local-path provisioner \(key): \(error)")
                    queue.addRateLimited(key)
                }
            } else {
                queue.addRateLimited(key)
            }
            queue.done(key)
        }
    }

    /// One key: "pvc:<namespace>/<name>" or "pv:<name>". Throwing retries it later.
    func sync(_ key: String, client: ObjectClient) throws {
        if key.hasPrefix("pvc:") {
            if let claim = claims.get(String(key.dropFirst(4))), wantsVolume(claim) { try provision(claim, client: client) }
        } else if key.hasPrefix("pv:") {
            if let volume = volumes.get(String(key.dropFirst(3))) { try reclaim(volume, client: client) }
        }
    }

    // MARK: provisioning

    /// Unbound, not being deleted, ours to provision and meant for this node.
    func wantsVolume(_ claim: PersistentVolumeClaim) -> Bool {
        let annotations = claim.metadata.annotations ?? [:]
        let ours = annotations[Self.provisionerAnnotation] == Self.provisioner
            || (annotations[Self.provisionerAnnotation] == nil && annotations[Self.betaProvisionerAnnotation] == Self.provisioner)
        return ours && (claim.spec.volumeName ?? "").isEmpty && !claim.isBeingDeleted && annotations[Self.selectedNodeAnnotation] == node
    }

    static func volumeName(_ claim: PersistentVolumeClaim) -> String { "pvc-" + claim.uid }

    /// A provisioning that cannot succeed as asked (event, no retry until the claim changes).
    struct Refusal: Error, CustomStringConvertible { let description: String }

    func provision(_ claim: PersistentVolumeClaim, client: ObjectClient) throws {
        let name = Self.volumeName(claim)
        if volumes.get(name) != nil { return }   // made before; the PV controller binds it
        do {
            let volume = try newVolume(for: claim, name: name, client: client)
            do {
                _ = try client.create(volume)
            } catch let e as APIStatusError where e.isConflict {
                return   // AlreadyExists: an earlier attempt made it
            }
            record(claim, "Normal", "ProvisioningSucceeded", "Successfully provisioned volume \(name)")
        } catch let refusal as Refusal {
            record(claim, "Warning", "ProvisioningFailed", "failed to provision volume with StorageClass \"\(claim.spec.storageClassName ?? "")\": \(refusal)")
        } catch {
            record(claim, "Warning", "ProvisioningFailed", "failed to provision volume with StorageClass \"\(claim.spec.storageClassName ?? "")\": \(error)")
            throw error
        }
    }

    /// The directory (made now) and the PV for it: the claim's size, modes and class, the class's
    /// reclaim policy, this node's affinity and a reservation for the claim.
    func newVolume(for claim: PersistentVolumeClaim, name: String, client: ObjectClient) throws -> PersistentVolume {
        let className = claim.spec.storageClassName ?? ""
        guard let storageClass = try client.get(StorageClass.self, namespace: nil, name: className) else {
            throw ClientError("storageclass.storage.k8s.io \"\(className)\" not found")
        }
        guard storageClass.provisioner == Self.provisioner else {
            throw Refusal(description: "StorageClass \"\(className)\" is provisioned by \(storageClass.provisioner ?? "nobody"), not \(Self.provisioner)")
        }
        guard let size = VolumeMatching.request(claim) else { throw Refusal(description: "the claim requests no storage") }
        let modes = claim.spec.accessModes ?? []   // (validation requires at least one)
        // A directory lives on one node: pods elsewhere can never mount it.
        if let other = modes.first(where: { $0 != "ReadWriteOnce" && $0 != "ReadWriteOncePod" }) {
            throw Refusal(description: "access mode \(other) is not supported: a local-path volume lives on one node (use ReadWriteOnce or ReadWriteOncePod)")
        }
        if let mode = claim.spec.volumeMode, mode != "Filesystem" {
            throw Refusal(description: "volumeMode \(mode) is not supported: local-path provisions directories (Filesystem)")
        }
        let dir = try makeDirectory(name)
        var volume = PersistentVolume.new(name: name)
        volume.metadata.annotations = [Self.provisionedByAnnotation: Self.provisioner]
        volume.spec.capacity = ["storage": size]
        volume.spec.accessModes = modes
        volume.spec.volumeMode = "Filesystem"
        volume.spec.storageClassName = className
        volume.spec.reclaimPolicy = storageClass.reclaimPolicy ?? .delete
        volume.spec.hostPath.path = dir
        volume.spec.hostPath.type = "DirectoryOrCreate"
        volume.spec.nodeAffinity.required.nodeSelectorTerms = [.node(named: node)]
        volume.spec.claimRef = claim.objectReference
        return volume
    }

    /// <storage root>/<name>, mode 0777 (as k3s: pods running as any user can write), made once.
    func makeDirectory(_ name: String) throws -> String {
        guard Self.isPlainName(name) else { throw Refusal(description: "volume name \"\(name)\" is not a plain directory name") }
        let dir = storageRoot + "/" + name
        var st = stat()
        if lstat(dir, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw Refusal(description: "\(dir) exists and is not a directory") }
        } else if mkdir(dir, 0o777) != 0 && errno != EEXIST {
            throw ClientError("creating \(dir): \(String(cString: strerror(errno)))")
        }
        chmod(dir, 0o777)   // past the umask
        return dir
    }

    /// One path component of letters, digits, '-', '_' and '.', not "." or "..".
    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && name.utf8.count <= 255
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }
    }

    // MARK: reclaiming

    enum ReclaimDecision: Equatable {
        /// Not a Released Delete-policy local-path volume of this node: left alone.
        case notOurs
        /// Remove this directory (it may already be gone), then the PV.
        case remove(String)
        /// Ours, but its path is not the directory we would have made: left, with this reason.
        case refuse(String)
    }

    /// Whether (and what) to remove for a volume. The path must be exactly <storage root>/<pv
    /// name>, a real directory there (no symlink anywhere on the way), or nothing is touched.
    func reclaimDecision(_ volume: PersistentVolume) -> ReclaimDecision {
        guard volume.metadata.annotations?[Self.provisionedByAnnotation] == Self.provisioner,
              volume.status.phase == .released, volume.spec.reclaimPolicy == .delete, pinnedHere(volume) else { return .notOurs }
        let name = volume.name
        let expected = storageRoot + "/" + name
        let path = volume.spec.hostPath.path ?? volume.spec.local.path ?? ""
        guard Self.isPlainName(name), path == expected else {
            return .refuse("its path \(path.isEmpty ? "(none)" : path) is not \(expected), the directory local-path made for it")
        }
        guard let realRoot = realpath(storageRoot, nil) else { return .refuse("the storage root \(storageRoot) is gone") }
        defer { free(realRoot) }
        guard String(cString: realRoot) == storageRoot else { return .refuse("the storage root \(storageRoot) now resolves elsewhere") }
        var st = stat()
        guard lstat(expected, &st) == 0 else {
            return errno == ENOENT ? .remove(expected) : .refuse("\(expected): \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return .refuse("\(expected) is not a directory (a symlink or a file)") }
        return .remove(expected)
    }

    /// The volume's node affinity names this node by hostname (it was made here).
    func pinnedHere(_ volume: PersistentVolume) -> Bool { VolumeMatching.pinnedNodes(volume) == [node] }

    func reclaim(_ volume: PersistentVolume, client: ObjectClient) throws {
        switch reclaimDecision(volume) {
        case .notOurs:
            return
        case .refuse(let why):
            log("local-path: not deleting volume \(volume.name): \(why)")
            record(volume, "Warning", "VolumeFailedDelete", "refusing to delete the directory of volume \(volume.name): \(why)")
        case .remove(let dir):
            do {
                try FileIO.removeTree(dir)
            } catch {
                record(volume, "Warning", "VolumeFailedDelete", "removing \(dir): \(error)")
                throw error
            }
            log("local-path: removed \(dir) of released volume \(volume.name)")
            try client.delete(volume)
        }
    }
}
