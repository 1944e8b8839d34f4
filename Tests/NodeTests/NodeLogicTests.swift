// The node agent's pure logic, without root: $(VAR) expansion, environments from pod fields,
// ConfigMaps and Secrets, the downward API's formats, pod-level cgroup limits and QoS paths,
// probe defaults, subPath containment, the atomic writer's layout, static pod naming.
import API
import Foundation
@testable import Node
import Testing

/// ConfigMaps and Secrets from a dictionary.
struct FakeObjects: ObjectSource {
    var objects: [String: JSONValue] = [:]
    func object(resource: String, namespace: String, name: String) throws -> JSONValue? { objects["\(resource)/\(namespace)/\(name)"] }
}

func json(_ text: String) -> JSONValue { (try? JSONValue.parse(text)) ?? .null }

@Suite struct ExpansionTests {
    @Test func kubernetesExpansionRules() {
        let vars = ["A": "x", "EMPTY": ""]
        #expect(PodEnvironment.expand("$(A)", vars) == "x")
        #expect(PodEnvironment.expand("pre-$(A)-post", vars) == "pre-x-post")
        #expect(PodEnvironment.expand("$(MISSING)", vars) == "$(MISSING)", "undefined references stay as written")
        #expect(PodEnvironment.expand("$$(A)", vars) == "$(A)", "$$ escapes")
        #expect(PodEnvironment.expand("$$", vars) == "$")
        #expect(PodEnvironment.expand("cost $5", vars) == "cost $5")
        #expect(PodEnvironment.expand("$(EMPTY)|", vars) == "|")
        #expect(PodEnvironment.expand("$(A", vars) == "$(A", "an unclosed reference is literal")
        #expect(PodEnvironment.expand("trailing $", vars) == "trailing $")
    }
}

@Suite struct EnvironmentTests {
    let pod = json(#"""
    {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"b": "2", "a": "1"}, "annotations": {"note": "say \"hi\""}},
     "spec": {"nodeName": "n1", "serviceAccountName": "sa",
              "containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi", "cpu": "1500m"}, "requests": {"cpu": "250m"}}}]}}
    """#)
    let objects = FakeObjects(objects: [
        "configmaps/ns/cm": json(#"{"data": {"k": "v", "bad key": "skip", "OTHER": "o"}, "binaryData": {"bin": "aGk="}}"#),
        "secrets/ns/s": json(#"{"data": {"pw": "czNjcmV0"}}"#),
    ])

    func env(_ container: String) throws -> [(String, String)] {
        try PodEnvironment.build(container: json(container), pod: pod, objects: objects, nodeAllocatable: { $0 == "memory" ? "8Gi" : "4" })
    }

    @Test func sourcesAndOrder() throws {
        let e = try env(#"""
        {"name": "c", "resources": {"limits": {"memory": "64Mi", "cpu": "1500m"}, "requests": {"cpu": "250m"}},
         "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}, {"secretRef": {"name": "s"}}],
         "env": [{"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['a']"}}},
                 {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                 {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                 {"name": "REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
                 {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                 {"name": "CM_k", "value": "override $(NAME)"}]}
        """#)
        let d = Dictionary(e, uniquingKeysWith: { _, b in b })
        #expect(d["CM_k"] == "override p", "later env replaces envFrom and expands earlier values")
        #expect(d["CM_bad key"] == nil, "invalid names from envFrom are skipped")
        #expect(d["CM_bin"] == "hi")
        #expect(d["pw"] == "s3cret")
        #expect(d["NAME"] == "p" && d["LABEL"] == "1")
        #expect(d["MEM"] == "64")
        #expect(d["CPU"] == "2", "cpu rounds up to whole cores by default")
        #expect(d["REQ"] == "250")
        #expect(d["SECRET"] == "s3cret")
        #expect(e.first?.0 == "CM_k", "the first definition keeps its place")
    }

    @Test func unsetLimitIsNodeAllocatable() throws {
        let d = Dictionary(try env(#"{"name": "c", "env": [{"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Gi"}}}]}"#),
                           uniquingKeysWith: { _, b in b })
        #expect(d["M"] == "8")
    }

    @Test func missingReferencesFailUnlessOptional() throws {
        #expect(throws: PodConfigError.self) { try env(#"{"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]}"#) }
        #expect(throws: PodConfigError.self) { try env(#"{"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "absent"}}}]}"#) }
        #expect(throws: PodConfigError.self) { try env(#"{"name": "c", "envFrom": [{"secretRef": {"name": "nope"}}]}"#) }
        let ok = try env(#"{"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": true}}}]}"#)
        #expect(ok.isEmpty)
        #expect(throws: PodConfigError.self) { try env(#"{"name": "c", "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.nope"}}}]}"#) }
    }

    @Test func downwardFormats() throws {
        #expect(try PodEnvironment.fieldValue("metadata.labels", pod: pod, field: "") == "a=\"1\"\nb=\"2\"")
        #expect(try PodEnvironment.fieldValue("metadata.annotations", pod: pod, field: "") == #"note="say \"hi\"""#)
        #expect(try PodEnvironment.fieldValue("metadata.annotations['missing']", pod: pod, field: "") == "")
        #expect(try PodEnvironment.fieldValue("spec.serviceAccountName", pod: pod, field: "") == "sa")
    }
}

@Suite struct PodCgroupTests {
    @Test func qosPathsAndPodLimits() {
        let sandbox = PodSandbox(rootDir: "/r", cgroupRoot: "skiff")
        #expect(sandbox.cgroupPath(uid: "u", qosClass: "Guaranteed") == "skiff/kubepods/podu")
        #expect(sandbox.cgroupPath(uid: "u", qosClass: "Burstable") == "skiff/kubepods/burstable/podu")
        #expect(sandbox.cgroupPath(uid: "u", qosClass: "BestEffort") == "skiff/kubepods/besteffort/podu")
        let spec = json(#"""
        {"containers": [{"resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}},
                        {"resources": {"limits": {"memory": "32Mi", "cpu": "250m"}, "requests": {"cpu": "100m"}}}],
         "initContainers": [{"resources": {"limits": {"memory": "512Mi", "cpu": "100m"}}}]}
        """#)
        let l = PodSandbox.podLimits(spec, qosClass: "Burstable")
        #expect(l.memoryBytes == 512 << 20, "the largest init container wins over the sum")
        #expect(l.cpuQuotaMicros == 75_000)
        #expect(l.cpuShares == 614, "requests (limits when unset): 600m → 614 shares")
        let open = PodSandbox.podLimits(json(#"{"containers": [{"resources": {"limits": {"memory": "64Mi"}}}, {}]}"#), qosClass: "Burstable")
        #expect(open.memoryBytes == nil, "one container without a limit leaves the pod unlimited")
        #expect(PodSandbox.podLimits(json(#"{"containers": [{}]}"#), qosClass: "BestEffort").cpuShares == 2)
    }

    @Test func hostnames() {
        #expect(PodSandbox.hostname(json(#"{"metadata": {"name": "web-1"}}"#)) == "web-1")
        #expect(PodSandbox.hostname(json(#"{"metadata": {"name": "x"}, "spec": {"hostname": "custom"}}"#)) == "custom")
        let long = String(repeating: "a", count: 62) + "-b"
        #expect(PodSandbox.hostname(json(#"{"metadata": {"name": "\#(long)"}}"#)) == String(repeating: "a", count: 62))
    }
}

@Suite struct ProbeSpecTests {
    @Test func defaultsAndPorts() {
        let t = ProbeTiming(json("{}"))
        #expect(t.period == 10 && t.timeout == 1 && t.failureThreshold == 3 && t.successThreshold == 1 && t.initialDelay == 0)
        let container = json(#"{"ports": [{"name": "http", "containerPort": 8080}]}"#)
        #expect(ProbeAction.port(json(#""http""#), container: container) == 8080)
        #expect(ProbeAction.port(json("9000"), container: container) == 9000)
        #expect(ProbeAction.port(json(#""nope""#), container: container) == nil)
        #expect(ProbeAction(json(#"{"httpGet": {"port": "nope"}}"#), container: container) == nil)
        guard case .http(let port, let path, _, _)? = ProbeAction(json(#"{"httpGet": {"port": "http"}}"#), container: container)?.kind else {
            Issue.record("httpGet not parsed"); return
        }
        #expect(port == 8080 && path == "/")
    }

    @Test func tcpProbeAgainstALocalListener() throws {
        // A listener on loopback in this (host) namespace: connect succeeds; a closed port fails.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        listen(fd, 4)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let ok = ProbeAction.connect(host: "127.0.0.1", port: port, netnsPID: nil, timeout: 1)
        #expect(ok >= 0)
        if ok >= 0 { close(ok) }
        close(fd)
        #expect(ProbeAction.connect(host: "127.0.0.1", port: port, netnsPID: nil, timeout: 1) == -ECONNREFUSED)
    }
}

@Suite struct VolumeLayoutTests {
    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "skiff-node-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func atomicWriterSwapsWholeVersions() throws {
        let d = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        try AtomicWriter.write(d, files: [("a", Array("1".utf8), 0o644), ("dir/b", Array("2".utf8), 0o600)], volume: "v")
        #expect(try String(contentsOfFile: d + "/a", encoding: .utf8) == "1")
        #expect(try String(contentsOfFile: d + "/dir/b", encoding: .utf8) == "2")
        #expect(AtomicWriter.readLink(d + "/a") == "..data/a")
        let first = AtomicWriter.readLink(d + "/..data")
        try AtomicWriter.write(d, files: [("a", Array("3".utf8), 0o644)], volume: "v")
        #expect(try String(contentsOfFile: d + "/a", encoding: .utf8) == "3")
        #expect(!FileManager.default.fileExists(atPath: d + "/dir"), "names gone from the data are removed")
        #expect(AtomicWriter.readLink(d + "/..data") != first)
        #expect(!FileManager.default.fileExists(atPath: d + "/" + (first ?? "x")), "the old version is removed")
        #expect(throws: PodConfigError.self) { try AtomicWriter.write(d, files: [("../escape", [], 0o644)], volume: "v") }
        #expect(throws: PodConfigError.self) { try AtomicWriter.write(d, files: [("/abs", [], 0o644)], volume: "v") }
    }

    @Test func subPathStaysInsideItsVolume() throws {
        let d = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        try FileManager.default.createSymbolicLink(atPath: d + "/out", withDestinationPath: "/etc")
        try FileManager.default.createSymbolicLink(atPath: d + "/in", withDestinationPath: "sub")
        let created = try PodVolumes.resolveSubPath(base: d, subPath: "sub/dir", container: "c", index: 0)
        #expect(created.hasSuffix("/sub/dir") && FileManager.default.fileExists(atPath: created))
        #expect(try PodVolumes.resolveSubPath(base: d, subPath: "in", container: "c", index: 0).hasSuffix("/sub"))
        #expect(throws: PodConfigError.self) { try PodVolumes.resolveSubPath(base: d, subPath: "out", container: "c", index: 0) }
        #expect(throws: PodConfigError.self) { try PodVolumes.resolveSubPath(base: d, subPath: "../x", container: "c", index: 0) }
        #expect(throws: PodConfigError.self) { try PodVolumes.resolveSubPath(base: d, subPath: "/etc", container: "c", index: 0) }
    }

    @Test func hostPathTypes() throws {
        let d = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        #expect(try PodVolumes.checkHostPath(d + "/new/dir", type: "DirectoryOrCreate", volume: "v") == d + "/new/dir")
        #expect(try PodVolumes.checkHostPath(d + "/f", type: "FileOrCreate", volume: "v") == d + "/f")
        #expect(throws: PodConfigError.self) { try PodVolumes.checkHostPath(d + "/f", type: "Directory", volume: "v") }
        #expect(throws: PodConfigError.self) { try PodVolumes.checkHostPath(d + "/missing", type: "File", volume: "v") }
        #expect(throws: PodConfigError.self) { try PodVolumes.checkHostPath("relative", type: "", volume: "v") }
        #expect(throws: PodConfigError.self) { try PodVolumes.checkHostPath(d, type: "Weird", volume: "v") }
    }
}

@Suite struct NamingTests {
    @Test func containerNamesRoundTrip() {
        let n = ContainerName(container: "web", pod: "p", namespace: "ns", uid: "0123456789abcdef", attempt: 3)
        #expect(n.text == "k8s_web_p_ns_01234567_3")
        #expect(ContainerName(parsing: n.text) == n)
        #expect(ContainerName(parsing: "k8s_a_b_c") == nil)
        #expect(ContainerName(parsing: "plain") == nil)
    }

    @Test func staticPodsAreNamedForTheNodeWithStableUIDs() throws {
        let pods = StaticPods(dir: "/nonexistent", node: "n1", log: { _ in })
        let doc = json(#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}"#)
        let a = try pods.makePod(doc, file: "/m/web.yaml", bytes: Array("x".utf8))
        let b = try pods.makePod(doc, file: "/m/web.yaml", bytes: Array("x".utf8))
        let changed = try pods.makePod(doc, file: "/m/web.yaml", bytes: Array("y".utf8))
        #expect(a.value(at: "metadata.name") == "web-n1")
        #expect(a.value(at: "metadata.namespace") == "default")
        #expect(a.value(at: "spec.nodeName") == "n1")
        #expect(a.value(at: "metadata.uid") == b.value(at: "metadata.uid"))
        #expect(a.value(at: "metadata.uid") != changed.value(at: "metadata.uid"), "a new manifest is a new pod")
        #expect(StaticPods.isStatic(a) && !StaticPods.isMirror(a))
        #expect(throws: PodConfigError.self) { try pods.makePod(json(#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}"#), file: "", bytes: []) }
        #expect(throws: PodConfigError.self) { try pods.makePod(json(#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}}"#), file: "", bytes: []) }
    }
}
