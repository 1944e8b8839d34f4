// persistentVolumeClaim and ephemeral volumes, as the kubelet's volume manager mounts them before
// a pod's sandbox starts: the claim (in the pod's namespace; an ephemeral volume's is
// <pod>-<volume> and must be owned by the pod) must be Bound, its PersistentVolume reserved for
// it, reachable from this node and a hostPath or local directory. Until then the pod waits in
// ContainerCreating with a FailedMount event, and the next sync tries again. Once mounted, the
// volume is re-owned for the pod's fsGroup (fsGroupChangePolicy) and its host path kept for the
// pod's life. Also here: each mount's readOnly and mountPropagation.
import API
import Client
import Foundation
import Runtime
#if canImport(Glibc)
import Glibc
#endif

struct ClaimVolumes {
    let pod: Pod
    let client: ObjectClient
    let nodeName: String
    /// This node's labels (a volume's node affinity must match them).
    let nodeLabels: [String: String]
    /// The local-path provisioner's directory here (its volumes get fsGroup like local ones).
    var storageRoot: String?

    /// Volume name → host directory for every claim volume, with fsGroup applied; throws (the
    /// kubelet's FailedMount message) while any of them cannot be mounted.
    func mount() throws -> [String: String] {
        var paths: [String: String] = [:], owned: [String] = []
        var failed: [String] = [], firstError = ""
        for claim in pod.claimVolumes {
            do {
                let (path, managed) = try hostPath(claim)
                paths[claim.volume] = path
                if managed && !claim.readOnly { owned.append(claim.volume) }
            } catch {
                failed.append(claim.volume)
                if firstError.isEmpty { firstError = "\(error)" }
            }
        }
        guard failed.isEmpty else {
            let names = failed.joined(separator: " ")
            throw PodConfigError("Unable to attach or mount volumes: unmounted volumes=[\(names)], failed to process volumes=[\(names)]: \(firstError)")
        }
        // Ownership once every claim is there (not again and again while one is still pending).
        if let gid = pod.spec.securityContext.fsGroup.flatMap({ UInt32(exactly: $0) }) {
            for name in owned {
                if let dir = paths[name] { Self.applyFSGroup(dir, gid: gid, policy: pod.spec.securityContext.fsGroupChangePolicy) }
            }
        }
        return paths
    }

    /// The claim's volume's directory on this host (created for hostPath DirectoryOrCreate), and
    /// whether its ownership is managed for fsGroup: local volumes and local-path's directories
    /// are; other hostPath volumes are not (as the kubelet: a hostPath of /etc must never be
    /// re-owned for a pod).
    func hostPath(_ claim: PodClaimVolume) throws -> (String, managed: Bool) {
        let namespace = pod.namespace
        let context = "error processing PVC \(namespace)/\(claim.claimName)"
        guard let pvc = try client.get(PersistentVolumeClaim.self, namespace: namespace, name: claim.claimName) else {
            throw PodConfigError("\(context): failed to fetch PVC from API server: persistentvolumeclaims \"\(claim.claimName)\" not found")
        }
        if claim.ephemeral && pvc.controllerRef?.uid != pod.uid {
            throw PodConfigError("PVC \(namespace)/\(claim.claimName) was not created for pod \(namespace)/\(pod.name) (pod is not owner)")
        }
        if pvc.isBeingDeleted { throw PodConfigError("can't start pod because PVC \(namespace)/\(claim.claimName) is being deleted") }
        guard pvc.status.phase == "Bound", let volumeName = pvc.spec.volumeName, !volumeName.isEmpty else {
            throw PodConfigError("\(context): PVC is not bound")
        }
        guard let pv = try client.get(PersistentVolume.self, namespace: nil, name: volumeName) else {
            throw PodConfigError("\(context): failed to fetch PV \(volumeName) from API server: persistentvolumes \"\(volumeName)\" not found")
        }
        guard pv.spec.claimRef.uid == pvc.uid else {
            throw PodConfigError("\(context): PV \(volumeName) is not bound to it (its claimRef names \(pv.spec.claimRef.namespace ?? "")/\(pv.spec.claimRef.name ?? ""))")
        }
        let terms = pv.spec.nodeAffinity.required.nodeSelectorTerms.map { NodeRequirement.term($0.json) }
        guard NodeRequirement.anyTermMatches(terms, labels: nodeLabels, nodeName: nodeName) else {
            throw PodConfigError("\(context): volume node affinity conflict: PV \(volumeName) cannot be reached from node \(nodeName)")
        }
        if let path = pv.spec.hostPath.path {
            let dir = try PodVolumes.checkHostPath(path, type: pv.spec.hostPath.type ?? "", volume: claim.volume)
            return (dir, isLocalPathDirectory(pv, path: dir))
        }
        if let path = pv.spec.local.path {
            var st = stat()
            guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw PodConfigError("MountVolume.NewMounter initialization failed for volume \"\(volumeName)\" : path \"\(path)\" does not exist or is not a directory")
            }
            return (path, true)
        }
        throw PodConfigError("\(context): PV \(volumeName) is of a type this node cannot mount (hostPath and local only)")
    }

    /// Made by local-path on this node: exactly <storage root>/<pv name>, no symlink on the way.
    func isLocalPathDirectory(_ pv: PersistentVolume, path: String) -> Bool {
        guard let storageRoot, pv.metadata.annotations?[LocalPathProvisioner.provisionedByAnnotation] == LocalPathProvisioner.provisioner,
              LocalPathProvisioner.isPlainName(pv.name), path == storageRoot + "/" + pv.name, let real = realpath(path, nil) else { return false }
        defer { free(real) }
        return String(cString: real) == path
    }

    /// The kubelet's volume ownership management: group fsGroup, group rw and setgid on
    /// directories, recursively; OnRootMismatch skips it when the root already has them.
    static func applyFSGroup(_ dir: String, gid: UInt32, policy: PodFSGroupChangePolicy?) {
        if policy == .onRootMismatch {
            var st = stat()
            if stat(dir, &st) == 0, st.st_gid == gid, st.st_mode & 0o2070 == 0o2070 { return }
        }
        PodVolumes.setGroup(dir, gid: gid, recursive: true, writable: true)
    }
}

extension PodVolumes {
    /// The volumes every mount of is read-only (a persistentVolumeClaim source's readOnly).
    var readOnlyVolumes: Set<String> {
        Set(Pod(json: pod).claimVolumes.filter(\.readOnly).map(\.volume))
    }

    /// mountPropagation as the runtime's: None → rprivate, HostToContainer → rslave,
    /// Bidirectional → rshared (privileged containers only, as the kubelet requires).
    static func propagation(_ mount: VolumeMount, of container: Container) throws -> ContainerSpec.Propagation {
        switch mount.mountPropagation {
        case nil: return .private
        case .some(.none): return .private
        case .hostToContainer: return .slave
        case .bidirectional:
            guard container.securityContext.privileged == true else {
                throw PodConfigError("container \(container.name ?? ""): volumeMount \"\(mount.name ?? "")\": Bidirectional mount propagation is available only to privileged containers")
            }
            return .shared
        case .other(let mode):
            throw PodConfigError("container \(container.name ?? ""): volumeMount \"\(mount.name ?? "")\": invalid mount propagation mode \"\(mode)\"")
        }
    }
}

extension PodSync {
    /// The pod's claim volumes, mounted once for its life: false while they cannot be (the
    /// FailedMount event is recorded; the pod waits and a later sync tries again).
    func mountClaims(_ context: PodContext) -> Bool {
        let pod = Pod(json: context.pod)
        guard !pod.claimVolumes.isEmpty else { return true }
        let state = states[context.uid]
        if let paths = state.mountedClaims {
            context.claimPaths = paths
            return true
        }
        // Tried at most every 2 s per pod (each try reads the claims and volumes), and at once
        // when a claim on this node's watch became Bound since.
        let bound = agent.claimsBound.withLock { $0 }
        if let last = state.claimMountFailure, Date().timeIntervalSince(last.at) < 2, last.claimsBound == bound {
            context.mountFailure = last.message
            return false
        }
        do {
            guard let client = api() else { throw PodConfigError("Unable to attach or mount volumes: no API server to read the claims from") }
            // The Node's labels as the API has them (the scheduler matched those); ours if it can't say.
            let labels = (try? client.get(Node.self, namespace: nil, name: agent.options.name))?.metadata.labels
                ?? Node(json: agent.nodeObject()).metadata.labels ?? [:]
            let storage = realpath(agent.options.rootDir + "/storage", nil)
            defer { free(storage) }
            let paths = try ClaimVolumes(pod: pod, client: client, nodeName: agent.options.name, nodeLabels: labels,
                                         storageRoot: storage.map { String(cString: $0) }).mount()
            states.update(context.uid) { $0.mountedClaims = paths; $0.claimMountFailure = nil }
            context.claimPaths = paths
            return true
        } catch {
            context.mountFailure = "\(error)"
            states.update(context.uid) { $0.claimMountFailure = (Date(), "\(error)", bound) }
            agent.events.container(context.pod, nil, type: "Warning", reason: "FailedMount", message: "\(error)")
            return false
        }
    }

    /// Every container waits in ContainerCreating while the claims are not mounted.
    func waitingForClaims(_ context: PodContext) -> [String: (String, String)] {
        let spec = Pod(json: context.pod).spec
        var waiting: [String: (String, String)] = [:]
        for c in spec.initContainers + spec.containers {
            if let name = c.name { waiting[name] = ("ContainerCreating", context.mountFailure ?? "") }
        }
        return waiting
    }
}
