// Events about pods (the node's Pulling, Started, Killing..., the scheduler's Scheduled and
// FailedScheduling), posted from a queue of their own so no control loop waits on them. A repeat
// of the same event within ten minutes bumps its count instead of adding another object, as
// client-go's recorder does; repeats are sent at most every 10 s.
import API
import Foundation

public final class EventRecorder: @unchecked Sendable {
    /// source.component and reportingComponent ("kubelet", "default-scheduler").
    let component: String
    /// source.host and reportingInstance (the node's name), if any.
    let host: String?
    let client: @Sendable () -> APIClient?
    private let queue = DispatchQueue(label: "skiff.events")
    private var api: APIClient?
    /// key → (event name, namespace, count, first time, last sent)
    private var seen: [String: (name: String, namespace: String, count: Int, first: String, sent: Date)] = [:]
    private var pruned = Date()

    public init(component: String, host: String? = nil, client: @escaping @Sendable () -> APIClient?) {
        self.component = component
        self.host = host
        self.client = client
    }

    /// An event about a pod (and one of its containers when given).
    public func container(_ pod: JSONValue, _ c: JSONValue?, type: String = "Normal", reason: String, message: String) {
        let meta = pod["metadata"] ?? .null
        guard let namespace = meta["namespace"]?.stringValue, let name = meta["name"]?.stringValue else { return }
        var involved: JSONValue = ["kind": "Pod", "namespace": .string(namespace), "name": .string(name),
                                   "uid": meta["uid"] ?? "", "apiVersion": "v1"]
        if let cname = c?["name"]?.stringValue { involved["fieldPath"] = .string("spec.containers{\(cname)}") }
        let object = involved
        queue.async { [self] in post(namespace: namespace, involved: object, type: type, reason: reason, message: message) }
    }

    /// An event about any object (a Job's SuccessfulCreate, a CronJob's SawCompletedJob...).
    /// Events about cluster-scoped objects (a PersistentVolume) go to "default", as client-go's.
    public func object<T: KubernetesObject>(_ o: T, type: String = "Normal", reason: String, message: String) {
        guard o.metadata.name != nil else { return }
        var ref = o.objectReference
        if ref.uid == nil { ref.uid = "" }
        let involved = ref.json, namespace = ref.namespace ?? "default"
        queue.async { [self] in post(namespace: namespace, involved: involved, type: type, reason: reason, message: message) }
    }

    private func post(namespace: String, involved: JSONValue, type: String, reason: String, message: String) {
        if api == nil { api = client() }
        guard let api else { return }
        let now = KubeTime.format()
        let key = "\(involved.jsonString)|\(reason)|\(message)"
        // Forget old repeats once a minute (not on every post: thousands of distinct events pass by).
        if Date().timeIntervalSince(pruned) > 60 {
            pruned = Date()
            for (k, v) in seen where Date().timeIntervalSince(v.sent) > 600 { seen[k] = nil }
        }
        if var prior = seen[key] {
            prior.count += 1
            seen[key] = prior
            guard Date().timeIntervalSince(prior.sent) >= 10 else { return }
            let patch: JSONValue = ["count": .int(Int64(prior.count)), "lastTimestamp": .string(now)]
            _ = try? api.request("PATCH", "/api/v1/namespaces/\(namespace)/events/\(prior.name)", body: patch.serialized(),
                                 contentType: "application/merge-patch+json")
            seen[key]?.sent = Date()
            return
        }
        let name = "\(involved["name"]?.stringValue ?? "pod").\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        let event: JSONValue = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["name": .string(name), "namespace": .string(namespace)],
            "involvedObject": involved, "reason": .string(reason), "message": .string(message), "type": .string(type),
            "source": host.map { ["component": .string(component), "host": .string($0)] } ?? ["component": .string(component)],
            "reportingComponent": .string(component), "reportingInstance": .string(host ?? component),
            "firstTimestamp": .string(now), "lastTimestamp": .string(now), "count": 1,
        ]
        if let r = try? api.request("POST", "/api/v1/namespaces/\(namespace)/events", body: event.serialized()), r.code == 201 {
            seen[key] = (name, namespace, 1, now, Date())
        } else {
            self.api = nil   // reconnect next time
        }
    }
}
