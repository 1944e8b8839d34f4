// Admission for storage objects, as kube-apiserver's plugins do it: DefaultStorageClass fills in
// a new claim's class, StorageObjectInUseProtection puts the protection finalizers on claims and
// volumes, and PersistentVolumeClaimResize refuses growing a claim its class cannot expand.
import API
import Foundation

extension ResourceStorage {
    static let storageClassType = ResourceRegistry.lookup(groupVersion: "storage.k8s.io/v1", plural: "storageclasses")!

    /// A new claim or volume: its class defaulted (claims) and its protection finalizer added.
    func admitStorage(_ obj: inout JSONValue, kind: String) async throws {
        if kind == PersistentVolume.kind {
            var pv = PersistentVolume(json: obj)
            pv.metadata.addFinalizer(StorageRules.volumeProtectionFinalizer)
            obj = pv.json
            return
        }
        var claim = PersistentVolumeClaim(json: obj)
        // Only an absent class is defaulted: "" asks for no class (pre-provisioned volumes only).
        if claim.spec.storageClassName == nil, let name = try await defaultStorageClass()?.metadata.name {
            claim.spec.storageClassName = name
        }
        claim.metadata.addFinalizer(StorageRules.claimProtectionFinalizer)
        obj = claim.json
    }

    /// The default class; with several, the newest (as Kubernetes picks since 1.26).
    func defaultStorageClass() async throws -> StorageClass? {
        let defaults = try await list(Self.storageClassType, namespace: nil).map { StorageClass(json: $0) }.filter { StorageRules.isDefaultClass($0) }
        return defaults.max { a, b in
            let ta = a.metadata.creationTimestamp ?? .distantPast, tb = b.metadata.creationTimestamp ?? .distantPast
            return ta != tb ? ta < tb : a.name > b.name
        }
    }

    /// A larger storage request needs a bound claim whose class allows expansion.
    func admitClaimResize(_ new: JSONValue, old: JSONValue) async throws {
        let n = PersistentVolumeClaim(json: new), o = PersistentVolumeClaim(json: old)
        guard let grown = VolumeMatching.requestedBytes(n), let was = VolumeMatching.requestedBytes(o), grown > was else { return }
        let refusal = "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
        guard o.status.phase == "Bound" else {
            throw APIError.forbidden("persistentvolumeclaims \"\(n.name)\" is forbidden: Only bound persistent volume claims can be expanded")
        }
        guard let className = o.spec.storageClassName, !className.isEmpty,
              let kv = try await store.get(Self.key(Self.storageClassType, namespace: nil, name: className)),
              StorageClass(json: ObjectCodec.decode(kv.value, revision: kv.modRevision)).allowVolumeExpansion == true else {
            throw APIError.forbidden("persistentvolumeclaims \"\(n.name)\" is forbidden: \(refusal)")
        }
    }

    /// The master's default StorageClass (`local-path`), made when no class of that name exists.
    func ensureDefaultStorageClass() async {
        _ = try? await create(Self.storageClassType, namespace: nil, body: StorageRules.localPathClass.json)
    }
}
