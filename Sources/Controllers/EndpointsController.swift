// Endpoints and EndpointSlices follow each Service's selector: pods with an IP, ready ones as
// addresses and the rest as notReadyAddresses, named target ports resolved per pod (pods that
// resolve a port differently land in different subsets). Services without a selector keep the
// endpoints their users write.
import API
import Client
import Foundation

final class EndpointsController: Controller, InitialKeys, @unchecked Sendable {
    let name = "endpoints"
    let informers: SharedInformers
    let queue = WorkQueue()
    static let serviceNameLabel = "kubernetes.io/service-name"

    init(informers: SharedInformers) {
        self.informers = informers
        informers.services.onEvent { [self] event in
            switch event {
            case .added(let s), .updated(_, let s), .deleted(let s): queue.add(objectKey(s))
            }
        }
        informers.pods.onEvent { [self] event in
            switch event {
            case .added(let p), .deleted(let p): enqueueServices(of: p)
            case .updated(let old, let p): enqueueServices(of: p); enqueueServices(of: old)
            }
        }
    }

    func initialKeys() -> [String] { informers.services.items.map(objectKey) }

    func enqueueServices(of pod: JSONValue) {
        let ns = pod["metadata"]?["namespace"]?.stringValue ?? ""
        let labels = pod["metadata"]?["labels"]?.stringMap ?? [:]
        for s in informers.inNamespace(informers.services, ns) {
            guard let sel = s["spec"]?["selector"]?.stringMap, !sel.isEmpty else { continue }
            if sel.allSatisfy({ labels[$0.key] == $0.value }) { queue.add(objectKey(s)) }
        }
    }

    /// A target port for one pod: a number, or the pod's container port of that name.
    static func targetPort(_ port: JSONValue, pod: JSONValue) -> Int64? {
        let target = port["targetPort"] ?? port["port"] ?? .null
        if let n = target.intValue { return n }
        guard let name = target.stringValue else { return nil }
        if let n = Int64(name) { return n }
        for c in pod["spec"]?["containers"]?.arrayValue ?? [] {
            for p in c["ports"]?.arrayValue ?? [] where p["name"]?.stringValue == name { return p["containerPort"]?.intValue }
        }
        return nil
    }

    func sync(_ key: String, client: APIClient) throws {
        let ns = namespaceOf(key), svcName = nameOf(key)
        guard let svc = informers.services.get(key) else {
            try client.send("DELETE", "/api/v1/namespaces/\(ns)/endpoints/\(svcName)", missingOK: true)
            return   // its EndpointSlice goes with it (owner reference)
        }
        guard let selector = svc["spec"]?["selector"]?.stringMap, !selector.isEmpty else { return }
        let ports = svc["spec"]?["ports"]?.arrayValue ?? []
        // Group pods by how they resolve the service's ports.
        var subsets: [[Int64]: (ready: [JSONValue], notReady: [JSONValue])] = [:]
        var sliceEndpoints: [JSONValue] = []
        var slicePorts: [Int64]?
        let pods = informers.inNamespace(informers.pods, ns).filter { p in
            let labels = p["metadata"]?["labels"]?.stringMap ?? [:]
            return selector.allSatisfy { labels[$0.key] == $0.value } && isActiveOrTerminating(p)
        }.sorted { objectKey($0) < objectKey($1) }
        for pod in pods {
            guard let ip = pod["status"]?["podIP"]?.stringValue, !ip.isEmpty else { continue }
            let resolved = ports.map { Self.targetPort($0, pod: pod) ?? -1 }
            if resolved.contains(-1) { continue }
            let meta = pod["metadata"] ?? .null
            var address: JSONValue = ["ip": .string(ip), "targetRef": ["kind": "Pod", "namespace": .string(ns), "name": meta["name"] ?? "", "uid": meta["uid"] ?? ""]]
            if let node = pod["spec"]?["nodeName"]?.stringValue { address["nodeName"] = .string(node) }
            // A pod whose subdomain names this Service is published under its hostname (DNS: hostname.svc.ns.svc…).
            let hostname = pod["spec"]?["subdomain"]?.stringValue == svcName ? pod["spec"]?["hostname"]?.stringValue : nil
            if let hostname { address["hostname"] = .string(hostname) }
            let publishNotReady = svc["spec"]?["publishNotReadyAddresses"]?.boolValue == true
            let ready = (isReady(pod) || publishNotReady) && pod["metadata"]?["deletionTimestamp"] == nil
            if ready { subsets[resolved, default: ([], [])].ready.append(address) } else { subsets[resolved, default: ([], [])].notReady.append(address) }
            if slicePorts == nil || slicePorts == resolved {
                slicePorts = resolved
                var ep: JSONValue = ["addresses": [.string(ip)],
                                     "conditions": ["ready": .bool(ready), "serving": .bool(isReady(pod)), "terminating": .bool(pod["metadata"]?["deletionTimestamp"] != nil)],
                                     "targetRef": address["targetRef"] ?? .null]
                if let node = address["nodeName"] { ep["nodeName"] = node }
                if let hostname { ep["hostname"] = .string(hostname) }
                sliceEndpoints.append(ep)
            }
        }
        func portList(_ resolved: [Int64]) -> [JSONValue] {
            zip(ports, resolved).map { p, n in
                var o: JSONValue = ["port": .int(n), "protocol": p["protocol"] ?? "TCP"]
                if let name = p["name"]?.stringValue, !name.isEmpty { o["name"] = .string(name) }
                return o
            }
        }
        let subsetList: [JSONValue] = subsets.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { resolved in
            var s: JSONValue = ["ports": .array(portList(resolved))]
            let group = subsets[resolved]!
            if !group.ready.isEmpty { s["addresses"] = .array(group.ready) }
            if !group.notReady.isEmpty { s["notReadyAddresses"] = .array(group.notReady) }
            return s
        }
        try apply(client, path: "/api/v1/namespaces/\(ns)/endpoints", name: svcName, object: [
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": ["name": .string(svcName), "namespace": .string(ns), "labels": svc["metadata"]?["labels"] ?? .object(JSONObject())],
            "subsets": .array(subsetList),
        ], compare: "subsets")
        try apply(client, path: "/apis/discovery.k8s.io/v1/namespaces/\(ns)/endpointslices", name: svcName + "-skiff", object: [
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": ["name": .string(svcName + "-skiff"), "namespace": .string(ns),
                         "labels": [.init(stringLiteral: Self.serviceNameLabel): .string(svcName), "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"],
                         "ownerReferences": [["apiVersion": "v1", "kind": "Service", "name": .string(svcName), "uid": .string(uid(svc)),
                                              "controller": true, "blockOwnerDeletion": true]]],
            "addressType": "IPv4", "endpoints": .array(sliceEndpoints), "ports": .array(portList(slicePorts ?? ports.map { Self.targetPort($0, pod: .null) ?? 0 })),
        ], compare: "endpoints")
    }

    /// Creates, or replaces when the compared field differs.
    func apply(_ client: APIClient, path: String, name: String, object: JSONValue, compare field: String) throws {
        let current = try client.get(path + "/" + name)
        if current.code == 404 {
            try client.send("POST", path, object)
            return
        }
        let existing = try current.json()
        if existing[field] == object[field] && existing["ports"] == object["ports"] { return }
        var updated = object
        updated["metadata"]?["resourceVersion"] = existing["metadata"]?["resourceVersion"] ?? .null
        try client.send("PUT", path + "/" + name, updated)
    }
}

/// Pods that count for endpoints: running or shutting down, not finished.
func isActiveOrTerminating(_ pod: JSONValue) -> Bool {
    let phase = pod["status"]?["phase"]?.stringValue
    return phase != "Succeeded" && phase != "Failed"
}
