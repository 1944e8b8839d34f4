// The local-path provisioner against FakeObjectClient and a temporary root dir: which claims it
// provisions (and the PV it makes), the directory it removes for a Released Delete volume, and
// every way a PV could point the removal outside <root>/storage being refused. Also the claim
// mounting checks (ClaimVolumes) and fsGroup ownership, which need no root.
import API
import Client
import Foundation
@testable import Node
import Testing
#if canImport(Glibc)
import Glibc
#endif

final class ProvisionerHarness: @unchecked Sendable {
    let api = FakeObjectClient()
    let root: String
    let provisioner: LocalPathProvisioner
    private let lock = NSLock()
    private var recorded: [(kind: String, name: String, type: String, reason: String, message: String)] = []

    init(node: String = "n1") throws {
        root = NSTemporaryDirectory() + "skiff-localpath-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        weak var events: ProvisionerHarness?   // weak: the provisioner must not keep the harness alive
        provisioner = try LocalPathProvisioner(node: node, rootDir: root, claims: api.lister(PersistentVolumeClaim.self),
                                               volumes: api.lister(PersistentVolume.self),
                                               record: { o, eventType, reason, message in events?.note(o, eventType, reason, message) })
        events = self
        var sc = StorageClass.new(name: "local-path")
        sc.provisioner = LocalPathProvisioner.provisioner
        sc.reclaimPolicy = .delete
        api.seed(sc)
    }

    func note(_ o: any KubernetesObject, _ eventType: String, _ reason: String, _ message: String) {
        lock.lock(); defer { lock.unlock() }
        recorded.append((type(of: o).kind, o.metadata.name ?? "", eventType, reason, message))
    }

    var events: [(kind: String, name: String, type: String, reason: String, message: String)] {
        lock.lock(); defer { lock.unlock() }
        return recorded
    }

    var storage: String { provisioner.storageRoot }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    @discardableResult
    func claim(_ name: String, node: String = "n1", provisioner: String = LocalPathProvisioner.provisioner,
               _ edit: (inout PersistentVolumeClaim) -> Void = { _ in }) throws -> PersistentVolumeClaim {
        var c = PersistentVolumeClaim.new(namespace: "default", name: name)
        c.metadata.annotations = [LocalPathProvisioner.provisionerAnnotation: provisioner,
                                  LocalPathProvisioner.betaProvisionerAnnotation: provisioner,
                                  LocalPathProvisioner.selectedNodeAnnotation: node]
        c.spec.accessModes = ["ReadWriteOnce"]
        c.spec.storageClassName = "local-path"
        c.spec.resources.requests = ["storage": "1Gi"]
        edit(&c)
        let created = try api.create(c)
        try provisioner_sync("pvc:default/" + name)
        return created
    }

    func provisioner_sync(_ key: String) throws { try provisioner.sync(key, client: api) }

    func volumes() throws -> [PersistentVolume] { try api.list(PersistentVolume.self) }

    /// A provisioned-looking Released volume pinned to `node` with the given path.
    func releasedVolume(_ name: String, path: String, node: String = "n1", policy: PersistentVolumeReclaimPolicy = .delete) throws {
        var pv = PersistentVolume.new(name: name)
        pv.metadata.annotations = [LocalPathProvisioner.provisionedByAnnotation: LocalPathProvisioner.provisioner]
        pv.spec.reclaimPolicy = policy
        pv.spec.hostPath.path = path
        pv.spec.nodeAffinity.required.nodeSelectorTerms = [.node(named: node)]
        pv.status.phase = .released
        api.seed(pv)
        try provisioner_sync("pv:" + name)
    }
}

func isDirectory(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
}

@Suite struct LocalPathProvisioningTests {
    @Test func provisionsADirectoryAndAPinnedVolumeForTheClaim() throws {
        let h = try ProvisionerHarness()
        let claim = try h.claim("data")
        let name = "pvc-" + claim.uid
        let pv = try #require(try h.api.get(PersistentVolume.self, namespace: nil, name: name))
        let dir = h.storage + "/" + name
        #expect(pv.metadata.annotations?[LocalPathProvisioner.provisionedByAnnotation] == "skiff.io/local-path")
        #expect(pv.spec.capacity == ["storage": "1Gi"])
        #expect(pv.spec.accessModes == ["ReadWriteOnce"])
        #expect(pv.spec.volumeMode == "Filesystem")
        #expect(pv.spec.storageClassName == "local-path")
        #expect(pv.spec.reclaimPolicy == .delete)
        #expect(pv.spec.hostPath.path == dir)
        #expect(pv.spec.hostPath.type == "DirectoryOrCreate")
        let term = try #require(pv.spec.nodeAffinity.required.nodeSelectorTerms.first?.matchExpressions.first)
        #expect(term.key == "kubernetes.io/hostname" && term.op == "In" && term.values == ["n1"])
        #expect(pv.spec.claimRef.kind == "PersistentVolumeClaim" && pv.spec.claimRef.apiVersion == "v1")
        #expect(pv.spec.claimRef.namespace == "default" && pv.spec.claimRef.name == "data" && pv.spec.claimRef.uid == claim.uid)
        var st = stat()
        #expect(stat(dir, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR)
        #expect(st.st_mode & 0o777 == 0o777, "writable by pods running as any user")
        #expect(h.events.contains { $0.kind == "PersistentVolumeClaim" && $0.reason == "ProvisioningSucceeded" && $0.message == "Successfully provisioned volume \(name)" })
        // Again (a claim update before the binder got to it): nothing new.
        _ = h.api.takeActions()
        try h.provisioner_sync("pvc:default/data")
        #expect(h.api.takeActions().isEmpty)
    }

    @Test func aRetainClassGivesARetainVolumeAndAnExistingVolumeCountsAsDone() throws {
        let h = try ProvisionerHarness()
        var sc = StorageClass.new(name: "keep")
        sc.provisioner = LocalPathProvisioner.provisioner
        sc.reclaimPolicy = .retain
        h.api.seed(sc)
        let claim = try h.claim("kept") { $0.spec.storageClassName = "keep" }
        #expect(try h.api.get(PersistentVolume.self, namespace: nil, name: "pvc-" + claim.uid)?.spec.reclaimPolicy == .retain)
    }

    @Test func ignoresClaimsForOtherNodesOtherProvisionersBoundOrBeingDeleted() throws {
        let h = try ProvisionerHarness()
        try h.claim("elsewhere", node: "n2")
        try h.claim("theirs", provisioner: "rancher.io/local-path")
        try h.claim("bound") { $0.spec.volumeName = "pv-1" }
        try h.claim("unselected") { $0.metadata.annotations?[LocalPathProvisioner.selectedNodeAnnotation] = nil }
        var deleting = PersistentVolumeClaim.new(namespace: "default", name: "going")
        deleting.metadata.annotations = [LocalPathProvisioner.provisionerAnnotation: LocalPathProvisioner.provisioner,
                                         LocalPathProvisioner.selectedNodeAnnotation: "n1"]
        deleting.metadata.deletionTimestamp = Date()
        deleting.spec.storageClassName = "local-path"
        deleting.spec.resources.requests = ["storage": "1Gi"]
        h.api.seed(deleting)
        try h.provisioner_sync("pvc:default/going")
        #expect(try h.volumes().isEmpty)
        #expect(FileManager.default.subpaths(atPath: h.storage)?.isEmpty ?? true, "no directory made")
    }

    @Test func refusesWhatALocalDirectoryCannotBe() throws {
        let h = try ProvisionerHarness()
        try h.claim("shared") { $0.spec.accessModes = ["ReadWriteMany"] }
        try h.claim("block") { $0.spec.volumeMode = "Block" }
        #expect(try h.volumes().isEmpty)
        let failures = h.events.filter { $0.reason == "ProvisioningFailed" }
        #expect(failures.contains { $0.name == "shared" && $0.message.contains("ReadWriteMany is not supported") })
        #expect(failures.contains { $0.name == "block" && $0.message.contains("volumeMode Block is not supported") })
    }

    @Test func aMissingClassIsRetriedWithAnEvent() throws {
        let h = try ProvisionerHarness()
        #expect(throws: (any Error).self) { try h.claim("nocls") { $0.spec.storageClassName = "missing" } }
        #expect(h.events.contains { $0.reason == "ProvisioningFailed" && $0.message.contains("storageclass.storage.k8s.io \"missing\" not found") })
        #expect(try h.volumes().isEmpty)
    }
}

@Suite struct LocalPathReclaimTests {
    @Test func removesTheDirectoryOfAReleasedDeleteVolumeThenThePV() throws {
        let h = try ProvisionerHarness()
        let claim = try h.claim("data")
        let name = "pvc-" + claim.uid
        let dir = h.storage + "/" + name
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/sub/file", contents: Data("x".utf8))
        // Bound: kept.
        _ = try h.api.patch(PersistentVolume.self, namespace: nil, name: name, ["status": ["phase": "Bound"]], .merge, subresource: "status")
        try h.provisioner_sync("pv:" + name)
        #expect(isDirectory(dir))
        // Released: the directory goes, then the PV.
        _ = try h.api.patch(PersistentVolume.self, namespace: nil, name: name, ["status": ["phase": "Released"]], .merge, subresource: "status")
        try h.provisioner_sync("pv:" + name)
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect(try h.api.get(PersistentVolume.self, namespace: nil, name: name) == nil)
    }

    @Test func keepsRetainVolumesAndOtherNodesVolumes() throws {
        let h = try ProvisionerHarness()
        for name in ["pvc-keep", "pvc-other"] { try FileManager.default.createDirectory(atPath: h.storage + "/" + name, withIntermediateDirectories: true) }
        try h.releasedVolume("pvc-keep", path: h.storage + "/pvc-keep", policy: .retain)
        try h.releasedVolume("pvc-other", path: h.storage + "/pvc-other", node: "n2")
        #expect(isDirectory(h.storage + "/pvc-keep") && isDirectory(h.storage + "/pvc-other"))
        #expect(try h.volumes().count == 2)
        #expect(h.events.isEmpty)
    }

    @Test func aVolumeWhoseDirectoryIsAlreadyGoneIsStillDeleted() throws {
        let h = try ProvisionerHarness()
        try h.releasedVolume("pvc-gone", path: h.storage + "/pvc-gone")
        #expect(try h.volumes().isEmpty)
    }

    @Test func refusesEveryPathOutsideItsOwnDirectory() throws {
        let h = try ProvisionerHarness()
        // Somewhere outside the storage root that must survive.
        let outside = h.root + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: outside + "/precious", contents: Data("keep".utf8))
        let tmp = NSTemporaryDirectory() + "skiff-localpath-victim-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        // A symlink inside storage, named as the PV, pointing out.
        try FileManager.default.createSymbolicLink(atPath: h.storage + "/pvc-link", withDestinationPath: outside)
        // Another PV's directory (a name that is not this PV's).
        try FileManager.default.createDirectory(atPath: h.storage + "/pvc-neighbour", withIntermediateDirectories: true)
        let cases: [(String, String)] = [
            ("pvc-tmp", tmp),
            ("pvc-dotdot", h.storage + "/../outside"),
            ("pvc-dotdot2", h.storage + "/pvc-dotdot2/../../outside"),
            ("pvc-link", h.storage + "/pvc-link"),
            ("pvc-trailing", h.storage + "/pvc-trailing/"),
            ("pvc-root", h.storage),
            ("pvc-neighbour-thief", h.storage + "/pvc-neighbour"),
            ("pvc-nested", h.storage + "/pvc-nested/deeper"),
            ("pvc-relative", "storage/pvc-relative"),
            ("pvc-empty", ""),
        ]
        for (name, path) in cases { try h.releasedVolume(name, path: path) }
        #expect(FileManager.default.fileExists(atPath: outside + "/precious"), "outside data survives")
        #expect(isDirectory(tmp))
        #expect(isDirectory(h.storage))
        #expect(isDirectory(h.storage + "/pvc-neighbour"))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: h.storage + "/pvc-link")) == outside, "the link itself is left too")
        #expect(try h.volumes().count == cases.count, "refused volumes stay for an administrator")
        let refusals = h.events.filter { $0.reason == "VolumeFailedDelete" && $0.type == "Warning" && $0.kind == "PersistentVolume" }
        #expect(Set(refusals.map(\.name)) == Set(cases.map(\.0)), "\(h.events)")
    }

    @Test func aSymlinkInsideTheVolumeIsRemovedNotFollowed() throws {
        let h = try ProvisionerHarness()
        let outside = h.root + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: outside + "/precious", contents: Data("keep".utf8))
        let dir = h.storage + "/pvc-evil"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/escape", withDestinationPath: outside)
        try h.releasedVolume("pvc-evil", path: dir)
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect(FileManager.default.fileExists(atPath: outside + "/precious"))
        #expect(try h.volumes().isEmpty)
    }

    @Test func aStorageRootThatBecameASymlinkIsRefused() throws {
        let h = try ProvisionerHarness()
        let outside = h.root + "/elsewhere"
        try FileManager.default.createDirectory(atPath: outside + "/pvc-x", withIntermediateDirectories: true)
        try FileManager.default.removeItem(atPath: h.storage)
        try FileManager.default.createSymbolicLink(atPath: h.storage, withDestinationPath: outside)
        try h.releasedVolume("pvc-x", path: h.storage + "/pvc-x")
        #expect(isDirectory(outside + "/pvc-x"))
        #expect(try h.volumes().count == 1)
    }
}
