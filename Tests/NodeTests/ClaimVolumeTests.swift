// Mounting claims on the node without root (ClaimVolumes against FakeObjectClient): what keeps a
// pod waiting (claim missing, unbound, owned by someone else, volume for another node) and the
// message it waits with; hostPath and local volumes' paths; fsGroup ownership and its
// OnRootMismatch policy; mountPropagation and readOnly of the mounts.
import API
import Client
import Foundation
@testable import Node
import Runtime
import Testing
#if canImport(Glibc)
import Glibc
#endif

struct ClaimFixture {
    let api = FakeObjectClient()
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "skiff-claims-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func pod(_ volumes: String, fsGroup: Int64? = nil) -> Pod {
        var pod = Pod(json: json(#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default", "uid": "pod-uid"}, "spec": {"volumes": \#(volumes)}}"#))
        if let fsGroup { pod.spec.securityContext.fsGroup = fsGroup }
        return pod
    }

    /// A Bound claim and its volume (hostPath `path`, pinned to node n1).
    @discardableResult
    func boundClaim(_ name: String, path: String, node: String = "n1", local: Bool = false, owner: String? = nil) -> PersistentVolumeClaim {
        var claim = PersistentVolumeClaim.new(namespace: "default", name: name)
        claim.metadata.uid = "uid-" + name
        claim.spec.volumeName = "pv-" + name
        claim.status.phase = "Bound"
        if let owner {
            var ref = OwnerReference()
            ref.kind = "Pod"
            ref.name = "web"
            ref.uid = owner
            ref.controller = true
            claim.metadata.ownerReferences = [ref]
        }
        var pv = PersistentVolume.new(name: "pv-" + name)
        if local { pv.spec.local.path = path } else { pv.spec.hostPath.path = path }
        pv.spec.claimRef.uid = claim.metadata.uid
        pv.spec.nodeAffinity.required.nodeSelectorTerms = [.node(named: node)]
        api.seed(claim)
        api.seed(pv)
        return claim
    }

    func mount(_ pod: Pod) throws -> [String: String] {
        try ClaimVolumes(pod: pod, client: api, nodeName: "n1", nodeLabels: ["kubernetes.io/hostname": "n1"]).mount()
    }

    func failure(_ pod: Pod) -> String {
        do { _ = try mount(pod); return "" } catch { return "\(error)" }
    }
}

@Suite struct ClaimVolumeTests {
    @Test func aBoundClaimMountsItsVolumesDirectory() throws {
        let f = try ClaimFixture()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        f.boundClaim("data", path: f.dir + "/made")
        try FileManager.default.createDirectory(atPath: f.dir + "/made", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: f.dir + "/local", withIntermediateDirectories: true)
        f.boundClaim("fast", path: f.dir + "/local", local: true)
        let pod = f.pod(#"[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}, {"name": "l", "persistentVolumeClaim": {"claimName": "fast", "readOnly": true}}, {"name": "e", "emptyDir": {}}]"#)
        #expect(try f.mount(pod) == ["d": f.dir + "/made", "l": f.dir + "/local"])
        let volumes = PodVolumes(rootDir: f.dir, uid: "pod-uid", pod: pod.json, objects: nil)
        #expect(volumes.readOnlyVolumes == ["l"], "a claim source's readOnly makes all its mounts read-only")
    }

    @Test func podsWaitWithTheKubeletsMessage() throws {
        let f = try ClaimFixture()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        let missing = f.failure(f.pod(#"[{"name": "data", "persistentVolumeClaim": {"claimName": "nope"}}]"#))
        #expect(missing.hasPrefix("Unable to attach or mount volumes: unmounted volumes=[data]"), "\(missing)")
        #expect(missing.contains("error processing PVC default/nope") && missing.contains("persistentvolumeclaims \"nope\" not found"), "\(missing)")

        var pending = PersistentVolumeClaim.new(namespace: "default", name: "pending")
        pending.status.phase = "Pending"
        f.api.seed(pending)
        let unbound = f.failure(f.pod(#"[{"name": "data", "persistentVolumeClaim": {"claimName": "pending"}}]"#))
        #expect(unbound.contains("error processing PVC default/pending: PVC is not bound"), "\(unbound)")

        f.boundClaim("far", path: f.dir, node: "n2")
        let far = f.failure(f.pod(#"[{"name": "data", "persistentVolumeClaim": {"claimName": "far"}}]"#))
        #expect(far.contains("volume node affinity conflict"), "\(far)")

        f.boundClaim("nolocal", path: f.dir + "/absent", local: true)
        let noLocal = f.failure(f.pod(#"[{"name": "data", "persistentVolumeClaim": {"claimName": "nolocal"}}]"#))
        #expect(noLocal.contains("path \"\(f.dir)/absent\" does not exist"), "\(noLocal)")
    }

    @Test func anEphemeralVolumeNeedsTheClaimThePodOwns() throws {
        let f = try ClaimFixture()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        let volumes = #"[{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}}]"#
        f.boundClaim("web-scratch", path: f.dir, owner: "someone-else")
        let stolen = f.failure(f.pod(volumes))
        #expect(stolen.contains("PVC default/web-scratch was not created for pod default/web (pod is not owner)"), "\(stolen)")
        f.boundClaim("web-scratch", path: f.dir, owner: "pod-uid")
        #expect(try f.mount(f.pod(volumes)) == ["scratch": f.dir])
    }

    @Test func fsGroupOwnsTheVolumeAndOnRootMismatchSkipsAnOwnedOne() throws {
        let f = try ClaimFixture()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        let gid = getegid()   // a group this process may chown to without root
        let file = f.dir + "/f"
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        chmod(file, 0o600)
        chmod(f.dir, 0o755)
        ClaimVolumes.applyFSGroup(f.dir, gid: gid, policy: .always)
        var st = stat()
        stat(f.dir, &st)
        #expect(st.st_gid == gid && st.st_mode & 0o7777 == 0o2775, "group rwx and setgid on the directory")
        stat(file, &st)
        #expect(st.st_mode & 0o777 == 0o660, "group read-write on files of a writable volume")
        // The root already is the group's: OnRootMismatch leaves everything below as it is.
        chmod(file, 0o600)
        ClaimVolumes.applyFSGroup(f.dir, gid: gid, policy: .onRootMismatch)
        stat(file, &st)
        #expect(st.st_mode & 0o777 == 0o600)
        // Always walks it again.
        ClaimVolumes.applyFSGroup(f.dir, gid: gid, policy: nil)
        stat(file, &st)
        #expect(st.st_mode & 0o777 == 0o660)
    }

    @Test func fsGroupOwnsLocalAndLocalPathVolumesButNotOtherHostPaths() throws {
        let f = try ClaimFixture()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        let storage = f.dir + "/storage"
        for d in ["local", "plain", "storage/pv-made"] { try FileManager.default.createDirectory(atPath: f.dir + "/" + d, withIntermediateDirectories: true) }
        for d in ["local", "plain", "storage/pv-made"] { chmod(f.dir + "/" + d, 0o755) }
        f.boundClaim("local", path: f.dir + "/local", local: true)
        f.boundClaim("plain", path: f.dir + "/plain")
        f.boundClaim("made", path: storage + "/pv-made")
        var made = try #require(try f.api.get(PersistentVolume.self, namespace: nil, name: "pv-made"))
        made.metadata.annotations = [LocalPathProvisioner.provisionedByAnnotation: LocalPathProvisioner.provisioner]
        _ = try f.api.update(made)
        let pod = f.pod(#"[{"name": "a", "persistentVolumeClaim": {"claimName": "local"}}, {"name": "b", "persistentVolumeClaim": {"claimName": "plain"}}, {"name": "c", "persistentVolumeClaim": {"claimName": "made"}}]"#,
                        fsGroup: Int64(getegid()))
        _ = try ClaimVolumes(pod: pod, client: f.api, nodeName: "n1", nodeLabels: ["kubernetes.io/hostname": "n1"], storageRoot: storage).mount()
        func mode(_ d: String) -> mode_t { var st = stat(); stat(f.dir + "/" + d, &st); return st.st_mode & 0o7777 }
        #expect(mode("local") == 0o2775)
        #expect(mode("storage/pv-made") == 0o2775)
        #expect(mode("plain") == 0o755, "a hostPath volume is not re-owned")
    }

    @Test func mountPropagationAndItsPrivilegeRule() throws {
        func propagation(_ mode: String, privileged: Bool = false) throws -> ContainerSpec.Propagation {
            let mount = VolumeMount(json: json(#"{"name": "v", "mountPath": "/v", "mountPropagation": "\#(mode)"}"#))
            let container = Container(json: json(#"{"name": "c", "securityContext": {"privileged": \#(privileged)}}"#))
            return try PodVolumes.propagation(mount, of: container)
        }
        #expect(try propagation("None") == .private)
        #expect(try PodVolumes.propagation(VolumeMount(json: json(#"{"name": "v"}"#)), of: Container()) == .private)
        #expect(try propagation("HostToContainer") == .slave)
        #expect(try propagation("Bidirectional", privileged: true) == .shared)
        #expect(throws: PodConfigError.self) { try propagation("Bidirectional") }
        #expect(throws: PodConfigError.self) { try propagation("Sideways") }
    }
}
