// Ephemeral volumes (volumes[].ephemeral), as kube-controller-manager's ephemeral-volume
// controller: each becomes a PersistentVolumeClaim <pod>-<volume> made from its
// volumeClaimTemplate and owned by the pod (controller: true), so the garbage collector deletes it
// with the pod; the node then mounts it like any claim. A claim of that name the pod does not own
// is never taken over: a FailedBinding event says so (and the node refuses to mount it).
import API
import Client
import Foundation

final class EphemeralVolumeController: Controller, InitialKeys, @unchecked Sendable {
    let name = "ephemeral-volume"
    let queue = WorkQueue()
    let pods: Lister<Pod>
    let claims: Lister<PersistentVolumeClaim>
    let events: EventRecorder?

    init(pods: Lister<Pod>, claims: Lister<PersistentVolumeClaim>, events: EventRecorder?) {
        self.pods = pods
        self.claims = claims
        self.events = events
    }

    func watch(pods podInformer: Informer, claims claimInformer: Informer) {
        podInformer.onChange(Pod.self) { [self] _, new in
            if let new, Self.hasEphemeralVolumes(new) { queue.add(new.key) }
        }
        // A pod's claim deleted under it is made again (as long as the pod lives).
        claimInformer.onChange(PersistentVolumeClaim.self) { [self] old, new in
            guard new == nil, let old, let owner = old.controllerRef, owner.kind == Pod.kind, let pod = owner.name else { return }
            queue.add(old.namespace + "/" + pod)
        }
    }

    func initialKeys() -> [String] { pods.list().filter(Self.hasEphemeralVolumes).map(\.key) }

    static func hasEphemeralVolumes(_ pod: Pod) -> Bool { pod.spec.volumes.contains { $0.ephemeral.isSet } }

    func sync(_ key: String, client: APIClient) throws { try sync(key, client: client as ObjectClient) }

    func sync(_ key: String, client: ObjectClient) throws {
        guard let pod = pods.get(key), !pod.isBeingDeleted else { return }
        for volume in pod.spec.volumes where volume.ephemeral.isSet {
            let name = PodClaimVolume.ephemeralClaimName(pod: pod.name, volume: volume.name ?? "")
            if let existing = claims.get(pod.namespace + "/" + name) {
                if existing.controllerRef?.uid != pod.uid {
                    events?.object(pod, type: "Warning", reason: "FailedBinding",
                                   message: "ephemeral volume \(volume.name ?? ""): PVC \(pod.namespace)/\(name) was not created for pod \(pod.namespace)/\(pod.name) (pod is not owner)")
                }
                continue
            }
            let template = volume.ephemeral.volumeClaimTemplate
            var claim = PersistentVolumeClaim.new(namespace: pod.namespace, name: name)
            claim.metadata.labels = template.metadata.labels
            claim.metadata.annotations = template.metadata.annotations
            claim.metadata.ownerReferences = [pod.ownerReference()]
            claim.spec = template.spec
            do {
                _ = try client.create(claim)
            } catch let e as APIStatusError where e.isConflict {
                queue.addAfter(key, 1)   // made by someone else a moment ago: look at its owner once the cache has it
            } catch {
                events?.object(pod, type: "Warning", reason: "FailedBinding", message: "ephemeral volume \(volume.name ?? ""): \(error)")
                throw error
            }
        }
    }
}
