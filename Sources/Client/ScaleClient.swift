// A workload's scale subresource (autoscaling/v1 Scale) by whatever kind a reference names:
// the seam the horizontal pod autoscaler reads and writes replicas through.
import API
import Foundation

/// Scale reads and writes (APIClient is the real one; unit tests use an in-memory twin).
public protocol ScaleClient: AnyObject {
    func scale(_ type: ResourceType, namespace: String, name: String) throws -> Scale
    func updateScale(_ type: ResourceType, namespace: String, _ scale: Scale) throws -> Scale
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
}
