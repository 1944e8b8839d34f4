// Typed views over JSONValue. A view keeps the object's JSON as its storage and reads and writes
// fields through it, so a view of a newer object loses nothing it does not know about, and what
// goes back to the API server is the object that came from it plus the changes. The views
// themselves are generated from Sources/API/Schema (hack/codegen.sh); this is what they stand on.
import Foundation

public protocol JSONView: Sendable, Equatable {
    var json: JSONValue { get set }
    init(json: JSONValue)
}

extension JSONView {
    /// An empty object.
    public init() { self.init(json: .object(JSONObject())) }

    /// The field this view reads was written (a nested view of an absent field is an empty object).
    public var isSet: Bool {
        if case .object(let o) = json { return !o.isEmpty }
        return json != .null
    }
}

/// An object the API serves: it has a kind, an apiVersion and metadata.
public protocol KubernetesObject: JSONView {
    static var apiVersion: String { get }
    static var kind: String { get }
    var metadata: ObjectMeta { get set }
}

extension KubernetesObject {
    /// A new object with apiVersion and kind set.
    public static func new(namespace: String? = nil, name: String? = nil) -> Self {
        var o = Self(json: ["apiVersion": .string(apiVersion), "kind": .string(kind)])
        o.metadata.namespace = namespace
        o.metadata.name = name
        return o
    }

    /// The resource (path, scope) serving this kind.
    public static var resource: ResourceType {
        guard let r = ResourceRegistry.lookup(apiVersion: apiVersion, kind: kind) else {
            preconditionFailure("\(apiVersion) \(kind) has a view but is not in ResourceRegistry")
        }
        return r
    }

    /// "namespace/name", or "name" for cluster-scoped objects (the informer cache key).
    public var key: String {
        let name = metadata.name ?? ""
        if let ns = metadata.namespace, !ns.isEmpty { return ns + "/" + name }
        return name
    }

    public var name: String { metadata.name ?? "" }
    public var namespace: String { metadata.namespace ?? "" }
    public var uid: String { metadata.uid ?? "" }
    public var isBeingDeleted: Bool { metadata.deletionTimestamp != nil }

    /// The owner reference marked controller: true.
    public var controllerRef: OwnerReference? { metadata.ownerReferences.first { $0.controller == true } }

    /// An ObjectReference naming this object (an event's involvedObject, a volume's claimRef).
    public var objectReference: ObjectReference {
        var ref = ObjectReference()
        ref.kind = Self.kind
        ref.apiVersion = Self.apiVersion
        ref.namespace = namespace.isEmpty ? nil : namespace
        ref.name = metadata.name
        ref.uid = metadata.uid
        return ref
    }

    /// A controller owner reference pointing at this object.
    public func ownerReference(blockOwnerDeletion: Bool = true) -> OwnerReference {
        var ref = OwnerReference()
        ref.apiVersion = Self.apiVersion
        ref.kind = Self.kind
        ref.name = metadata.name
        ref.uid = metadata.uid
        ref.controller = true
        ref.blockOwnerDeletion = blockOwnerDeletion
        return ref
    }
}

/// intstr.IntOrString: 80 or "http", 2 or "25%".
public enum IntOrString: Sendable, Hashable {
    case int(Int64)
    case string(String)

    public init?(json: JSONValue) {
        if let i = json.intValue { self = .int(i) } else if let s = json.stringValue { self = .string(s) } else { return nil }
    }

    public var json: JSONValue {
        switch self {
        case .int(let i): return .int(i)
        case .string(let s): return .string(s)
        }
    }

    /// The value scaled against `total`: a percentage rounds up or down as asked; an integer is itself.
    /// Nil for a string that is not "N%".
    public func scaled(total: Int64, roundUp: Bool) -> Int64? {
        switch self {
        case .int(let i): return i
        case .string(let s):
            guard s.hasSuffix("%"), let p = Int64(s.dropLast()) else { return nil }
            let product = p * total
            return roundUp ? (product + 99) / 100 : product / 100
        }
    }
}

extension JSONValue {
    public var doubleValue: Double? {
        switch self {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }

    /// Sets or (with nil) removes a field, making this an object first if it is not one.
    public mutating func put(_ key: String, _ value: JSONValue?) {
        if case .object = self {} else {
            guard value != nil else { return }
            self = .object(JSONObject())
        }
        self[key] = value
    }

    /// Writes a nested view back; an empty one that was absent stays absent (reading a view of a
    /// missing field and setting it back must not add the field).
    mutating func putView(_ key: String, _ value: JSONValue) {
        if self[key] == nil, case .object(let o) = value, o.isEmpty { return }
        put(key, value)
    }

    /// Writes an array of views back, with the same rule for an empty array.
    mutating func putArray(_ key: String, _ items: [JSONValue]) {
        if self[key] == nil, items.isEmpty { return }
        put(key, .array(items))
    }
}

extension ObjectMeta {
    public func hasFinalizer(_ name: String) -> Bool { (finalizers ?? []).contains(name) }

    /// Adds `name` unless it is there (finalizers are a set kept in order).
    public mutating func addFinalizer(_ name: String) {
        if !hasFinalizer(name) { finalizers = (finalizers ?? []) + [name] }
    }
}
