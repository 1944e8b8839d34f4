// The ephemeral volume controller against FakeObjectClient: a claim <pod>-<volume> from the
// template, owned by the pod; made again when deleted under a live pod; never taken over from
// another owner; nothing for pods being deleted or without ephemeral volumes.
import API
import Client
@testable import Controllers
import Foundation
import Testing

struct EphemeralHarness {
    let api = FakeObjectClient()
    let controller: EphemeralVolumeController

    init() {
        controller = EphemeralVolumeController(pods: api.lister(Pod.self), claims: api.lister(PersistentVolumeClaim.self), events: nil)
    }

    @discardableResult
    func pod(_ name: String, deleting: Bool = false) throws -> Pod {
        var pod = Pod(json: json(#"""
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "\#(name)", "namespace": "default"},
         "spec": {"containers": [{"name": "c", "image": "busybox"}],
                  "volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {
                                 "metadata": {"labels": {"type": "scratch"}, "annotations": {"note": "tmp"}},
                                 "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                                          "resources": {"requests": {"storage": "1Gi"}}}}}},
                              {"name": "cache", "emptyDir": {}}]}}
        """#))
        if deleting { pod.metadata.deletionTimestamp = Date() }
        api.seed(pod)
        return try #require(try api.get(Pod.self, namespace: "default", name: name))
    }

    func sync(_ name: String) throws { try controller.sync("default/" + name, client: api) }
    func claim(_ name: String) throws -> PersistentVolumeClaim? { try api.get(PersistentVolumeClaim.self, namespace: "default", name: name) }
}

@Suite struct EphemeralVolumeControllerTests {
    @Test func makesAClaimFromTheTemplateOwnedByThePod() throws {
        let h = EphemeralHarness()
        let pod = try h.pod("web")
        try h.sync("web")
        let claim = try #require(try h.claim("web-scratch"))
        #expect(claim.metadata.labels == ["type": "scratch"])
        #expect(claim.metadata.annotations == ["note": "tmp"])
        #expect(claim.spec.accessModes == ["ReadWriteOnce"] && claim.spec.storageClassName == "local-path")
        #expect(claim.spec.resources.requests == ["storage": "1Gi"])
        let owner = try #require(claim.metadata.ownerReferences.first)
        #expect(owner.kind == "Pod" && owner.apiVersion == "v1" && owner.name == "web" && owner.uid == pod.uid)
        #expect(owner.controller == true && owner.blockOwnerDeletion == true, "the garbage collector deletes it with the pod")
        #expect(try h.api.list(PersistentVolumeClaim.self).count == 1, "only the ephemeral volume gets a claim")
        // Idempotent; and made again after it was deleted under the live pod.
        _ = h.api.takeActions()
        try h.sync("web")
        #expect(h.api.takeActions().isEmpty)
        try h.api.delete(claim)
        try h.sync("web")
        #expect(try h.claim("web-scratch")?.controllerRef?.uid == pod.uid)
    }

    @Test func aClaimOfThatNameOwnedBySomeoneElseIsLeftAlone() throws {
        let h = EphemeralHarness()
        var other = PersistentVolumeClaim.new(namespace: "default", name: "web-scratch")
        other.spec.storageClassName = "precious"
        h.api.seed(other)
        try h.pod("web")
        _ = h.api.takeActions()
        try h.sync("web")
        #expect(h.api.takeActions().isEmpty)
        #expect(try h.claim("web-scratch")?.spec.storageClassName == "precious")
    }

    @Test func nothingForDeletedOrDeletingPods() throws {
        let h = EphemeralHarness()
        try h.pod("going", deleting: true)
        try h.sync("going")
        try h.sync("never-existed")
        #expect(try h.api.list(PersistentVolumeClaim.self).isEmpty)
        #expect(h.controller.initialKeys() == ["default/going"], "pods with ephemeral volumes are looked at once at start")
    }
}
