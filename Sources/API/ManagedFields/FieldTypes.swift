// What server-side apply needs to know of a kind's shape: how each list merges (atomic, a set,
// or a map keyed by some fields of its items) and which objects are owned whole. Built-in kinds
// take it from the strategic-merge-patch table (Patch.listStrategy) with the extra keys and
// defaults their OpenAPI schemas declare; a custom kind can bring its own.

public enum ListType: Equatable, Sendable {
    case atomic
    case set
    /// Items identified by these fields; a key field may have a default (ports' protocol: TCP).
    case map(keys: [String], defaults: [String: JSONValue])
}

public struct FieldTypes: Sendable {
    /// The list at field `field`, reached through the field names `parents`.
    public var listType: @Sendable (_ field: String, _ parents: [String]) -> ListType
    /// An object owned as one value (a label selector), not field by field.
    public var isAtomicObject: @Sendable (_ field: String, _ parents: [String]) -> Bool

    public init(listType: @escaping @Sendable (String, [String]) -> ListType,
                isAtomicObject: @escaping @Sendable (String, [String]) -> Bool) {
        self.listType = listType
        self.isAtomicObject = isAtomicObject
    }

    /// The built-in kinds' merge rules.
    public static func builtIn(kind: String) -> FieldTypes {
        FieldTypes(listType: { field, parents in builtInListType(field: field, parents: parents, kind: kind) },
                   isAtomicObject: { field, parents in
                       // LabelSelector is +structType=atomic; Services' and RCs' selectors are plain maps.
                       field == "selector" && kind != "Service" && kind != "ReplicationController" && parents.last == "spec"
                   })
    }

    private static let builtInListTypes = PathMemo<ListType>()

    static func builtInListType(field: String, parents: [String], kind: String) -> ListType {
        builtInListTypes.value(kind: kind, parents: parents, field: field) {
            computeBuiltInListType(field: field, parents: parents, kind: kind)
        }
    }

    private static func computeBuiltInListType(field: String, parents: [String], kind: String) -> ListType {
        let tcp: [String: JSONValue] = ["protocol": "TCP"]
        // The schema's @listType/@listMapKeys win (protocol defaults to TCP upstream); the merge
        // strategy table answers for lists the schema does not annotate yet.
        let annotations = OpenAPIDefinitions.field(kind: kind, path: parents + [field])?.annotations ?? [:]
        switch annotations["listType"] {
        case "atomic": return .atomic
        case "set": return .set
        case "map":
            if let keys = annotations["listMapKeys"]?.split(separator: ",").map(String.init) {
                return .map(keys: keys, defaults: keys.contains("protocol") ? tcp : [:])
            }
        default: break
        }
        switch Patch.listStrategy(field: field, parents: parents, kind: kind) {
        case .replace: return .atomic
        case .mergePrimitives: return .set
        case .mergeByKey("containerPort"): return .map(keys: ["containerPort", "protocol"], defaults: tcp)
        case .mergeByKey("port"): return .map(keys: ["port", "protocol"], defaults: tcp)
        case .mergeByKey("topologyKey"): return .map(keys: ["topologyKey", "whenUnsatisfiable"], defaults: [:])
        case .mergeByKey(let key): return .map(keys: [key], defaults: [:])
        }
    }
}
