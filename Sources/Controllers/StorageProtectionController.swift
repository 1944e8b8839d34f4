// The pvc-protection and pv-protection controllers: a claim being deleted keeps its finalizer
// while a pod that is not finished uses it (its data would vanish under the pod), and a volume
// being deleted keeps its finalizer while it is bound to a claim.
import API
import Client
import Foundation

final class StorageProtectionController: Controller, InitialKeys, @unchecked Sendable {
    let name = "storage-protection"
    let queue = WorkQueue()
    let claims: Lister<PersistentVolumeClaim>
    let volumes: Lister<PersistentVolume>
    let pods: Lister<Pod>

    static let volumePrefix = "pv:"

    init(claims: Lister<PersistentVolumeClaim>, volumes: Lister<PersistentVolume>, pods: Lister<Pod>) {
        self.claims = claims
        self.volumes = volumes
        self.pods = pods
    }

    func watch(claims: Informer, volumes: Informer, pods: Informer) {
        claims.onChange(PersistentVolumeClaim.self) { [self] _, new in
            if let new, new.isBeingDeleted { queue.add(new.key) }
        }
        volumes.onChange(PersistentVolume.self) { [self] _, new in
            if let new, new.isBeingDeleted { queue.add(Self.volumePrefix + new.name) }
        }
        // A pod that finished or went may have been the last user of a claim being deleted.
        pods.onChange(Pod.self) { [self] old, new in
            guard let pod = old ?? new, new == nil || !Self.usesVolumes(new!) else { return }
            for claim in pod.claimVolumes { queue.add(pod.namespace + "/" + claim.claimName) }
        }
    }

    func initialKeys() -> [String] {
        claims.list().filter(\.isBeingDeleted).map(\.key) + volumes.list().filter(\.isBeingDeleted).map { Self.volumePrefix + $0.name }
    }

    /// Still running (or about to): its volumes are in use.
    static func usesVolumes(_ pod: Pod) -> Bool {
        pod.status.phase != .succeeded && pod.status.phase != .failed
    }

    func sync(_ key: String, client: APIClient) throws { try sync(key, client: client as ObjectClient) }

    func sync(_ key: String, client: ObjectClient) throws {
        if key.hasPrefix(Self.volumePrefix) {
            guard let pv = volumes.get(String(key.dropFirst(Self.volumePrefix.count))), pv.isBeingDeleted,
                  pv.metadata.hasFinalizer(StorageRules.volumeProtectionFinalizer), pv.status.phase != .bound else { return }
            var freed = pv
            freed.metadata.finalizers = (pv.metadata.finalizers ?? []).filter { $0 != StorageRules.volumeProtectionFinalizer }
            _ = try client.update(freed)
            return
        }
        guard let claim = claims.get(key), claim.isBeingDeleted,
              claim.metadata.hasFinalizer(StorageRules.claimProtectionFinalizer) else { return }
        func inUse(_ pods: [Pod]) -> Bool {
            pods.contains { Self.usesVolumes($0) && $0.claimVolumes.contains { $0.claimName == claim.name } }
        }
        // The cache may not have a pod created a moment ago: ask the API before letting go.
        if inUse(pods.list(namespace: claim.namespace)) { return }
        if inUse(try client.list(Pod.self, namespace: claim.namespace)) { return }
        var freed = claim
        freed.metadata.finalizers = (claim.metadata.finalizers ?? []).filter { $0 != StorageRules.claimProtectionFinalizer }
        _ = try client.update(freed)
    }
}
