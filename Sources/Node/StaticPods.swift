// Static pods: pod manifests in --manifests DIR run on this node with no API server at all
// (named <name>-<node>, uid derived from the file's content and the node). With an API server,
// each gets a mirror pod (annotation kubernetes.io/config.mirror) that shows its status; the
// mirror is recreated if someone deletes it, and removed with the file.
import API
import Client
import Foundation
import Images
import Runtime
import YAML
#if canImport(Glibc)
import Glibc
#endif

final class StaticPods: @unchecked Sendable {
    static let sourceAnnotation = "kubernetes.io/config.source"
    static let hashAnnotation = "kubernetes.io/config.hash"
    static let mirrorAnnotation = "kubernetes.io/config.mirror"

    let dir: String
    let node: String
    private let lock = NSLock()
    /// uid → pod, for the manifests present now.
    private var current: [String: JSONValue] = [:]
    /// Pods whose file went away, still shutting down (deletionTimestamp set).
    private var leaving: [String: JSONValue] = [:]
    /// file name → "size:mtime" at the last read.
    private var lastScan: [String: String] = [:]
    let log: (String) -> Void

    init(dir: String, node: String, log: @escaping (String) -> Void) {
        self.dir = dir
        self.node = node
        self.log = log
    }

    var all: [JSONValue] { lock.lock(); defer { lock.unlock() }; return Array(current.values) + Array(leaving.values) }

    static func isMirror(_ pod: JSONValue) -> Bool { pod["metadata"]?["annotations"]?[mirrorAnnotation] != nil }
    static func isStatic(_ pod: JSONValue) -> Bool { pod["metadata"]?["annotations"]?[sourceAnnotation]?.stringValue == "file" }

    /// Re-reads the directory when a file changed; returns whether the set of pods changed.
    @discardableResult
    func scan() -> Bool {
        var seen: [String: String] = [:]
        for name in FileIO.listDirectory(dir).sorted() where !name.hasPrefix(".") {
            let path = dir + "/" + name
            var st = stat()
            guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            seen[name] = "\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        }
        if seen == lastScan { return false }
        lastScan = seen
        var pods: [String: JSONValue] = [:]
        for name in seen.keys.sorted() {
            let path = dir + "/" + name
            guard let bytes = try? FileIO.read(path) else { continue }
            do {
                for doc in try YAMLDocuments.parse(String(decoding: bytes, as: UTF8.self)) {
                    let pod = try makePod(doc, file: path, bytes: bytes)
                    if let uid = pod["metadata"]?["uid"]?.stringValue { pods[uid] = pod }
                }
            } catch {
                log("static pod manifest \(path): \(error) (skipped)")
            }
        }
        lock.lock()
        defer { lock.unlock() }
        let now = Timestamps.now()
        for (uid, old) in current where pods[uid] == nil {
            var gone = old
            gone["metadata"]?["deletionTimestamp"] = .string(now)
            leaving[uid] = gone
        }
        let changed = Set(pods.keys) != Set(current.keys)
        current = pods
        return changed
    }

    /// The pod as the node runs it: defaulted and validated like an API pod, named for this node.
    func makePod(_ doc: JSONValue, file: String, bytes: [UInt8]) throws -> JSONValue {
        guard doc["kind"]?.stringValue == "Pod", doc["apiVersion"]?.stringValue == "v1" else {
            throw PodConfigError("not a v1 Pod (kind \(doc["kind"]?.stringValue ?? "?"))")
        }
        var pod = doc
        guard let base = pod["metadata"]?["name"]?.stringValue, !base.isEmpty else { throw PodConfigError("metadata.name is required") }
        let hash = Digest.of(bytes + Array((node + "/" + base).utf8)).hex
        let uid = "\(hash.prefix(8))-\(hash.dropFirst(8).prefix(4))-\(hash.dropFirst(12).prefix(4))-\(hash.dropFirst(16).prefix(4))-\(hash.dropFirst(20).prefix(12))"
        if pod["metadata"]?["namespace"]?.stringValue == nil { pod["metadata"]?["namespace"] = "default" }
        pod["metadata"]?["name"] = .string(base + "-" + node)
        pod["metadata"]?["uid"] = .string(uid)
        var annotations = pod["metadata"]?["annotations"]?.objectValue ?? JSONObject()
        annotations[Self.sourceAnnotation] = "file"
        annotations[Self.hashAnnotation] = .string(String(hash.prefix(32)))
        annotations["kubernetes.io/config.seen"] = .string(Timestamps.now())
        pod["metadata"]?["annotations"] = .object(annotations)
        pod["spec"]?["nodeName"] = .string(node)
        let strategy = ResourceStrategy.forKind("Pod")
        strategy.applyDefaults(&pod)
        let errors = strategy.validate(pod)
        if !errors.isEmpty { throw PodConfigError(errors.map { "\($0)" }.joined(separator: "; ")) }
        if pod["status"]?["qosClass"] == nil { pod["status"] = ["qosClass": .string(PodRules.qosClass(pod["spec"] ?? .null))] }
        return pod
    }

    /// A pod that finished shutting down after its file went away.
    func finished(_ uid: String) { lock.lock(); leaving[uid] = nil; lock.unlock() }

    // MARK: mirror pods

    /// Makes the API server's mirror pods match the static pods (create missing or stale ones,
    /// delete those whose static pod is gone). Errors are for the next round.
    func syncMirrors(_ client: APIClient, apiPods: [JSONValue]) {
        let mirrors = apiPods.filter(Self.isMirror)
        let pods = all
        for pod in pods where pod["metadata"]?["deletionTimestamp"] == nil {
            let meta = pod["metadata"] ?? .null
            let ns = meta["namespace"]?.stringValue ?? "default", name = meta["name"]?.stringValue ?? ""
            let hash = meta["annotations"]?[Self.hashAnnotation]?.stringValue ?? ""
            let existing = mirrors.first { $0["metadata"]?["namespace"]?.stringValue == ns && $0["metadata"]?["name"]?.stringValue == name }
            if let existing, existing["metadata"]?["annotations"]?[Self.mirrorAnnotation]?.stringValue == hash,
               existing["metadata"]?["deletionTimestamp"] == nil { continue }
            if existing != nil { _ = try? client.request("DELETE", "/api/v1/namespaces/\(ns)/pods/\(name)", body: Array(#"{"gracePeriodSeconds":0}"#.utf8)) }
            var mirror = pod
            mirror["metadata"]?["uid"] = nil
            mirror["metadata"]?["resourceVersion"] = nil
            mirror["metadata"]?["annotations"]?[Self.mirrorAnnotation] = .string(hash)
            mirror["status"] = nil
            let r = try? client.request("POST", "/api/v1/namespaces/\(ns)/pods", body: mirror.serialized())
            if let r, r.code != 201 && r.code != 409 { log("mirror pod \(ns)/\(name): \(r.errorMessage)") }
        }
        let wanted = Set(pods.filter { $0["metadata"]?["deletionTimestamp"] == nil }.compactMap { p -> String? in
            guard let ns = p["metadata"]?["namespace"]?.stringValue, let n = p["metadata"]?["name"]?.stringValue else { return nil }
            return ns + "/" + n
        })
        for m in mirrors {
            guard let ns = m["metadata"]?["namespace"]?.stringValue, let n = m["metadata"]?["name"]?.stringValue,
                  !wanted.contains(ns + "/" + n), m["metadata"]?["deletionTimestamp"] == nil else { continue }
            _ = try? client.request("DELETE", "/api/v1/namespaces/\(ns)/pods/\(n)", body: Array(#"{"gracePeriodSeconds":0}"#.utf8))
        }
    }
}
