// A workload's scale subresource (autoscaling/v1 Scale) by whatever kind a reference names:
// the seam the horizontal pod autoscaler reads and writes replicas through.
import API
import Foundation

/// Scale reads and writes (APIClient is the real one; unit tests use an in-memory twin).
public protocol ScaleClient: AnyObject {
    func scale(_ type: ResourceType, namespace: String, name: String) throws -> Scale
    func updateScale(_ type: ResourceType, namespace: String, _ scale: Scale) throws -> Scale
    /// The resource serving `kind` in `apiVersion` (nil: none is served).
    func resource(apiVersion: String, kind: String) throws -> ResourceType?
}

extension ScaleClient {
    public func resource(apiVersion: String, kind: String) throws -> ResourceType? {
        ResourceRegistry.lookup(apiVersion: apiVersion, kind: kind)
    }
}

extension APIClient: ScaleClient {
    public func scale(_ type: ResourceType, namespace: String, name: String) throws -> Scale {
        let r = try request("GET", ResourceResolver.path(type, namespace: namespace, name: name, subresource: "scale"))
        guard r.code == 200 else { throw statusError(r) }
        return Scale(json: try r.json())
    }

    public func updateScale(_ type: ResourceType, namespace: String, _ scale: Scale) throws -> Scale {
        let path = ResourceResolver.path(type, namespace: namespace, name: scale.metadata.name ?? "", subresource: "scale")
        let r = try request("PUT", path, body: scale.json.serialized())
        guard r.code == 200 else { throw statusError(r) }
        return Scale(json: try r.json())
    }

    /// Built-in kinds from the registry; others (custom resources) from the server's discovery.
    public func resource(apiVersion: String, kind: String) throws -> ResourceType? {
        if let builtIn = ResourceRegistry.lookup(apiVersion: apiVersion, kind: kind) { return builtIn }
        let r = try request("GET", (apiVersion.contains("/") ? "/apis/" : "/api/") + apiVersion)
        guard r.code == 200 else { return nil }
        let list = APIResourceList(json: try r.json())
        let names = list.resources.compactMap(\.name)
        guard let main = list.resources.first(where: { $0.kind == kind && !($0.name ?? "/").contains("/") }), let plural = main.name else { return nil }
        let parts = apiVersion.split(separator: "/").map(String.init)
        var subresources: [String: [String]] = [:]
        for sub in ["status", "scale"] where names.contains("\(plural)/\(sub)") { subresources[sub] = ["get", "patch", "update"] }
        return .discovered(group: parts.count == 2 ? parts[0] : "", version: parts.last ?? apiVersion, plural: plural,
                           singular: main.singularName ?? "", kind: kind, namespaced: main.namespaced ?? true, subresources: subresources)
    }
}
