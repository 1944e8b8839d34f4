// The typed client: get/list/create/update/patch/delete of generated views, paths worked out
// from the kind (no hand-built REST paths). `ObjectClient` is the seam controllers are written
// against; APIClient is the real one and FakeObjectClient (FakeClient.swift) the in-memory twin.
import API
import Foundation

/// An error response from the API, with its HTTP code and Status reason ("NotFound", "Conflict"...).
public struct APIStatusError: Error, CustomStringConvertible, Sendable {
    public var code: Int
    public var reason: String
    public var message: String
    public init(code: Int, reason: String, message: String) {
        self.code = code
        self.reason = reason
        self.message = message
    }
    public var description: String { message }
    public var isNotFound: Bool { code == 404 }
    public var isConflict: Bool { code == 409 }
}

public enum PatchKind: Sendable {
    case merge, strategic, json

    public var contentType: String {
        switch self {
        case .merge: return "application/merge-patch+json"
        case .strategic: return "application/strategic-merge-patch+json"
        case .json: return "application/json-patch+json"
        }
    }
}

/// What happens to an object's dependents when it is deleted.
public enum DeletionPropagation: String, Sendable {
    case background = "Background", foreground = "Foreground", orphan = "Orphan"
}

/// Where objects of one kind live: a namespace, or every namespace (nil).
public protocol ObjectClient: AnyObject {
    func get<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String) throws -> T?
    func list<T: KubernetesObject>(_ type: T.Type, namespace: String?, labelSelector: String?) throws -> [T]
    func create<T: KubernetesObject>(_ object: T) throws -> T
    /// PUT of the object (or of its status with subresource "status"); a stale resourceVersion is a 409.
    func update<T: KubernetesObject>(_ object: T, subresource: String?) throws -> T
    func patch<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String, _ patch: JSONValue, _ kind: PatchKind,
                                    subresource: String?) throws -> T
    /// False when the object was already gone.
    @discardableResult
    func delete<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String, propagation: DeletionPropagation?,
                                     preconditionUID: String?) throws -> Bool
}

extension ObjectClient {
    public func list<T: KubernetesObject>(_ type: T.Type, namespace: String? = nil) throws -> [T] {
        try list(type, namespace: namespace, labelSelector: nil)
    }
    public func update<T: KubernetesObject>(_ object: T) throws -> T { try update(object, subresource: nil) }
    public func updateStatus<T: KubernetesObject>(_ object: T) throws -> T { try update(object, subresource: "status") }
    public func patch<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String, _ patch: JSONValue,
                                           _ kind: PatchKind = .merge) throws -> T {
        try self.patch(type, namespace: namespace, name: name, patch, kind, subresource: nil)
    }
    @discardableResult
    public func delete<T: KubernetesObject>(_ object: T, propagation: DeletionPropagation? = nil) throws -> Bool {
        try delete(T.self, namespace: object.metadata.namespace, name: object.name, propagation: propagation,
                   preconditionUID: object.metadata.uid)
    }
}

extension APIClient: ObjectClient {
    func path<T: KubernetesObject>(_ type: T.Type, _ namespace: String?, _ name: String?, _ subresource: String? = nil) -> String {
        ResourceResolver.path(T.resource, namespace: namespace, name: name, subresource: subresource)
    }

    /// The response's object, or an APIStatusError for a non-2xx answer.
    func object<T: KubernetesObject>(_ r: APIResponse, _: T.Type) throws -> T {
        guard (200..<300).contains(r.code) else { throw statusError(r) }
        return T(json: try r.json())
    }

    func statusError(_ r: APIResponse) -> APIStatusError {
        let status = try? JSONValue.parse(r.body)
        return APIStatusError(code: r.code, reason: status?["reason"]?.stringValue ?? "", message: r.errorMessage)
    }

    public func get<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String) throws -> T? {
        let r = try request("GET", path(type, namespace, name))
        if r.code == 404 { return nil }
        return try object(r, type)
    }

    public func list<T: KubernetesObject>(_ type: T.Type, namespace: String?, labelSelector: String?) throws -> [T] {
        let query = labelSelector.map { "?labelSelector=" + queryEscape($0) } ?? ""
        let r = try request("GET", path(type, namespace, nil) + query)
        guard r.code == 200 else { throw statusError(r) }
        return (try r.json()["items"]?.arrayValue ?? []).map(T.init(json:))
    }

    public func create<T: KubernetesObject>(_ o: T) throws -> T {
        try object(try request("POST", path(T.self, o.metadata.namespace, nil), body: o.json.serialized()), T.self)
    }

    public func update<T: KubernetesObject>(_ o: T, subresource: String?) throws -> T {
        let p = path(T.self, o.metadata.namespace, o.name, subresource)
        return try object(try request("PUT", p, body: o.json.serialized()), T.self)
    }

    public func patch<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String, _ patch: JSONValue, _ kind: PatchKind,
                                           subresource: String?) throws -> T {
        let r = try request("PATCH", path(type, namespace, name, subresource), body: patch.serialized(), contentType: kind.contentType)
        return try object(r, type)
    }

    public func delete<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String, propagation: DeletionPropagation?,
                                            preconditionUID: String?) throws -> Bool {
        var options = DeleteOptions(json: ["kind": "DeleteOptions", "apiVersion": "v1"])
        options.propagationPolicy = propagation?.rawValue
        options.preconditions.uid = preconditionUID
        let r = try request("DELETE", path(type, namespace, name), body: options.json.serialized())
        if r.code == 404 { return false }
        guard (200..<300).contains(r.code) else { throw statusError(r) }
        return true
    }
}
