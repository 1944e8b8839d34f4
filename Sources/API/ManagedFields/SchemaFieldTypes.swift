// Merge rules of a custom kind, from its CRD schema: lists are atomic unless the schema says
// x-kubernetes-list-type set or map (with x-kubernetes-list-map-keys), and an object with
// x-kubernetes-map-type: atomic is owned whole — apiextensions-apiserver's defaults.

extension FieldTypes {
    /// The rules of a resource type: its CRD schema's for custom kinds, the built-in table otherwise.
    public static func of(_ type: ResourceType) -> FieldTypes {
        guard let custom = type.custom else { return .builtIn(kind: type.kind) }
        let schema = custom.schema
        let metadata = FieldTypes.builtIn(kind: type.kind)   // ObjectMeta is ObjectMeta in every kind
        return FieldTypes(
            listType: { field, parents in
                if parents.first == "metadata" { return metadata.listType(field, parents) }
                guard let node = schemaNode(schema, parents + [field]) else { return .atomic }
                switch node.json["x-kubernetes-list-type"]?.stringValue {
                case "set": return .set
                case "map":
                    let keys = (node.json["x-kubernetes-list-map-keys"]?.arrayValue ?? []).compactMap(\.stringValue)
                    var defaults: [String: JSONValue] = [:]
                    for key in keys { if let d = node.items?.property(key)?.defaultValue { defaults[key] = d } }
                    return keys.isEmpty ? .atomic : .map(keys: keys, defaults: defaults)
                default: return .atomic
                }
            },
            isAtomicObject: { field, parents in
                schemaNode(schema, parents + [field])?.json["x-kubernetes-map-type"]?.stringValue == "atomic"
            })
    }

    /// The schema of the field at `path` (field names; lists step into their items).
    static func schemaNode(_ root: StructuralSchema?, _ path: [String]) -> StructuralSchema? {
        var node = root
        for name in path {
            if node?.type == "array" { node = node?.items }
            node = node?.property(name) ?? node?.additionalProperties
            if node == nil { return nil }
        }
        return node
    }
}
