// Services the master itself answers for — `kubernetes` (the API) and `kube-system/kube-dns`
// (the cluster DNS) — with Endpoints and an EndpointSlice pointing at this master's advertised
// address, reconciled at every start (like kube-apiserver's endpoint reconciler), so pods reach
// the API and the DNS through the proxy like any other Service, and a master that moved to
// another address or port is followed.
import API
import Foundation

/// One port of a master-served Service: the Service's port and where the master listens.
public struct MasterServicePort: Sendable {
    public var name: String
    public var port: Int64
    public var targetPort: Int64
    public var proto: String

    public init(name: String, port: Int64, targetPort: Int64, proto: String = "TCP") {
        self.name = name
        self.port = port
        self.targetPort = targetPort
        self.proto = proto
    }
}

extension KubernetesAPI {
    /// The DNS Service's conventional cluster IP: the tenth address of the service range.
    public var clusterDNSIP: String { ServiceAllocator.format(storage.services.network + 10) }

    /// Creates the Service when it is missing (at `clusterIP` when given) and points its
    /// Endpoints and EndpointSlice at `address`; errors are the caller's to log.
    public func publishMasterService(namespace: String, name: String, clusterIP: String?, labels: [String: String],
                                     ports: [MasterServicePort], address: String) async throws {
        let svcType = try type("v1", "services")
        let portList: [JSONValue] = ports.map {
            ["name": .string($0.name), "port": .int($0.port), "protocol": .string($0.proto), "targetPort": .int($0.targetPort)]
        }
        var spec: JSONValue = ["ports": .array(portList), "type": "ClusterIP"]
        if let clusterIP { spec["clusterIP"] = .string(clusterIP) }
        let labelObject = JSONValue.object(JSONObject(labels.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) }))
        do {
            _ = try await storage.create(svcType, namespace: namespace, body: ["metadata": ["name": .string(name), "labels": labelObject], "spec": spec])
        } catch let e as APIError where e.status.code == 409 {}
        let endpointPorts: [JSONValue] = ports.map { ["name": .string($0.name), "port": .int($0.targetPort), "protocol": .string($0.proto)] }
        let endpoints: JSONValue = [
            "metadata": ["name": .string(name), "labels": ["endpointslice.kubernetes.io/skip-mirror": "true"]],
            "subsets": [["addresses": [["ip": .string(address)]], "ports": .array(endpointPorts)]],
        ]
        try await upsert(try type("v1", "endpoints"), namespace: namespace, name: name, body: endpoints, field: "subsets")
        let slice: JSONValue = [
            "metadata": ["name": .string(name), "labels": ["kubernetes.io/service-name": .string(name)]],
            "addressType": "IPv4",
            "endpoints": [["addresses": [.string(address)], "conditions": ["ready": true, "serving": true, "terminating": false]]],
            "ports": .array(endpointPorts),
        ]
        try await upsert(try type("discovery.k8s.io/v1", "endpointslices"), namespace: namespace, name: name, body: slice, field: "endpoints")
    }

    /// Creates the object, or rewrites `field` (and ports) when they differ from what is stored.
    private func upsert(_ type: ResourceType, namespace: String, name: String, body: JSONValue, field: String) async throws {
        do {
            _ = try await storage.create(type, namespace: namespace, body: body)
            return
        } catch let e as APIError where e.status.code == 409 {}
        _ = try await storage.guaranteedUpdate(type, namespace: namespace, name: name) { old in
            var updated = old
            updated[field] = body[field]
            if let ports = body["ports"] { updated["ports"] = ports }
            return updated
        }
    }

    private func type(_ groupVersion: String, _ plural: String) throws -> ResourceType {
        guard let t = ResourceRegistry.lookup(groupVersion: groupVersion, plural: plural) else {
            throw APIError.internalError("\(groupVersion) \(plural) is not a served resource")
        }
        return t
    }
}
