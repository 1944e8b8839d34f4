// The storage kinds against a real `skiff master` without controllers: discovery, the default
// local-path StorageClass, default-class and protection-finalizer admission, validation (a
// claim without a size, a volume path through "..", a volume without a source), resize
// admission, StorageClass immutability, and the kubectl columns.
import API
import Foundation
import Testing
import TestSupport

@Suite struct StorageAPITests {
    static let claims = "/api/v1/namespaces/default/persistentvolumeclaims"
    static let volumes = "/api/v1/persistentvolumes"
    static let classes = "/apis/storage.k8s.io/v1/storageclasses"

    func claim(_ name: String, size: String? = "1Gi", className: String? = nil) -> String {
        let cls = className.map { #","storageClassName":"\#($0)""# } ?? ""
        let resources = size.map { #","resources":{"requests":{"storage":"\#($0)"}}"# } ?? ""
        return #"{"metadata":{"name":"\#(name)"},"spec":{"accessModes":["ReadWriteOnce"]\#(resources)\#(cls)}}"#
    }

    @Test func kindsDefaultsAndValidation() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        let core = try c.get("/api/v1").json["resources"]?.arrayValue ?? []
        #expect(core.contains { $0["name"] == "persistentvolumes" && $0["namespaced"] == false && $0["shortNames"] == ["pv"] })
        let storage = try c.get("/apis/storage.k8s.io/v1").json["resources"]?.arrayValue ?? []
        let storageNames = Set(storage.compactMap { $0["name"]?.stringValue })
        #expect(storageNames.isSuperset(of: ["storageclasses", "csidrivers", "csinodes", "volumeattachments"]), "\(storageNames)")

        // The master's default class.
        let sc = StorageClass(json: try c.get(Self.classes + "/local-path").json)
        #expect(sc.provisioner == StorageRules.localPathProvisioner && sc.volumeBindingMode == .waitForFirstConsumer)
        #expect(StorageRules.isDefaultClass(sc) && sc.reclaimPolicy == .delete && sc.allowVolumeExpansion == true)

        // Claims: the default class when none is named, "" kept as "no class", the finalizer.
        var r = try c.post(Self.claims, claim("plain"))
        #expect(r.code == 201, "\(r.errorMessage)")
        let plain = PersistentVolumeClaim(json: r.json)
        #expect(plain.spec.storageClassName == "local-path" && plain.status.phase == "Pending" && plain.spec.volumeMode == "Filesystem")
        #expect(plain.metadata.finalizers == [StorageRules.claimProtectionFinalizer])
        r = try c.post(Self.claims, claim("classless", className: ""))
        #expect(PersistentVolumeClaim(json: r.json).spec.storageClassName == "")
        r = try c.post(Self.claims, claim("sizeless", size: nil))
        #expect(r.code == 422 && r.errorMessage.contains("spec.resources[storage]: Required value"), "\(r.errorMessage)")
        r = try c.post(Self.claims, claim("negative", size: "-1Gi"))
        #expect(r.code == 422 && r.errorMessage.contains("must be greater than zero"), "\(r.errorMessage)")

        // Volumes: a source is required, hostPath may not climb out through "..", the finalizer.
        func volume(_ name: String, _ source: String) -> String {
            #"{"metadata":{"name":"\#(name)"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"]\#(source)}}"#
        }
        r = try c.post(Self.volumes, volume("escape", #","hostPath":{"path":"/srv/../etc"}"#))
        #expect(r.code == 422 && r.errorMessage.contains("spec.hostPath.path: Invalid value: \"/srv/../etc\": must not contain '..'"), "\(r.errorMessage)")
        r = try c.post(Self.volumes, volume("nothing", ""))
        #expect(r.code == 422 && r.errorMessage.contains("must specify a volume type"), "\(r.errorMessage)")
        r = try c.post(Self.volumes, volume("local-no-node", #","local":{"path":"/srv/x"}"#))
        #expect(r.code == 422 && r.errorMessage.contains("Local volumes require node affinity"), "\(r.errorMessage)")
        r = try c.post(Self.volumes, volume("disk", #","hostPath":{"path":"/srv/disk"}"#))
        #expect(r.code == 201, "\(r.errorMessage)")
        let pv = PersistentVolume(json: r.json)
        #expect(pv.spec.reclaimPolicy == .retain && pv.status.phase == .pending && pv.metadata.finalizers == [StorageRules.volumeProtectionFinalizer])
        // The protection finalizer holds a deleted volume (the controller lets go when it is unbound).
        #expect(try c.delete(Self.volumes + "/disk").code == 200)
        #expect(try c.get(Self.volumes + "/disk").json["metadata"]?["deletionTimestamp"] != nil)

        // Resize: only bound claims of classes that allow it.
        r = try c.patch(Self.claims + "/plain", #"{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}"#)
        #expect(r.code == 403 && r.errorMessage.contains("Only bound persistent volume claims can be expanded"), "\(r.errorMessage)")
        #expect(try c.patch(Self.claims + "/plain/status", #"{"status":{"phase":"Bound","capacity":{"storage":"1Gi"}}}"#).code == 200)
        r = try c.patch(Self.claims + "/plain", #"{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}"#)
        #expect(r.code == 200, "\(r.errorMessage)")
        r = try c.patch(Self.claims + "/plain", #"{"spec":{"resources":{"requests":{"storage":"1Gi"}}}}"#)
        #expect(r.code == 422 && r.errorMessage.contains("field can not be less than"), "\(r.errorMessage)")
        #expect(try c.patch(Self.claims + "/classless/status", #"{"status":{"phase":"Bound"}}"#).code == 200)
        r = try c.patch(Self.claims + "/classless", #"{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}"#)
        #expect(r.code == 403 && r.errorMessage.contains("the storageclass that provisions the pvc must support resize"), "\(r.errorMessage)")
        r = try c.patch(Self.claims + "/classless", #"{"spec":{"accessModes":["ReadWriteMany"]}}"#)
        #expect(r.code == 422 && r.errorMessage.contains("spec is immutable after creation"), "\(r.errorMessage)")

        // StorageClasses: provisioner required, immutable.
        r = try c.post(Self.classes, #"{"metadata":{"name":"bad"}}"#)
        #expect(r.code == 422 && r.errorMessage.contains("provisioner: Required value"), "\(r.errorMessage)")
        r = try c.patch(Self.classes + "/local-path", #"{"provisioner":"other.io/x"}"#)
        #expect(r.code == 422 && r.errorMessage.contains("updates to provisioner are forbidden"), "\(r.errorMessage)")

        // kubectl's columns.
        let table = "application/json;as=Table;v=v1;g=meta.k8s.io"
        let scRows = try c.get(Self.classes, accept: table).json["rows"]?.arrayValue ?? []
        #expect(scRows.first?["cells"]?.arrayValue?.prefix(3) == ["local-path (default)", "skiff.io/local-path", "Delete"])
        let pvcRows = try c.get(Self.claims, accept: table).json["rows"]?.arrayValue ?? []
        let plainRow = pvcRows.first { $0["cells"]?.arrayValue?.first == "plain" }?["cells"]?.arrayValue ?? []
        #expect(plainRow.count == 9 && plainRow[1] == "Bound" && plainRow[5] == "local-path", "\(plainRow)")
        let pvRows = try c.get(Self.volumes, accept: table).json["rows"]?.arrayValue ?? []
        #expect(pvRows.first?["cells"]?.arrayValue?.prefix(5) == ["disk", "1Gi", "RWO", "Retain", "Terminating"])
    }

    @Test func theDefaultClassCanBeLeftOut() throws {
        let m = try MasterProcess(extraArgs: ["--no-default-storage-class"])
        defer { m.stop() }
        #expect(try m.client.get(Self.classes + "/local-path").code == 404)
        let r = try m.client.post(Self.claims, claim("plain"))
        #expect(r.code == 201 && PersistentVolumeClaim(json: r.json).spec.storageClassName == nil)
    }
}
