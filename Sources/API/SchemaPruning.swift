// What apiextensions-apiserver does to a custom resource before validating it: fill in the
// schema's defaults for missing fields, then drop the fields the schema does not declare
// (unless x-kubernetes-preserve-unknown-fields keeps them). apiVersion, kind and metadata stay
// at the root and in x-kubernetes-embedded-resource objects.

public enum SchemaPruning {
    /// Defaults, then prunes, the whole object.
    public static func apply(_ object: inout JSONValue, _ schema: StructuralSchema) {
        applyDefaults(&object, schema)
        prune(&object, schema, keepsTypeMeta: true)
    }

    /// The unknown fields' paths (what --validate=strict / fieldValidation=Strict reports).
    public static func unknownFields(_ value: JSONValue, _ schema: StructuralSchema, path: String = "", keepsTypeMeta: Bool = true) -> [String] {
        guard case .object(let object) = value else {
            if case .array(let items) = value, let itemSchema = schema.items {
                return items.enumerated().flatMap { unknownFields($0.element, itemSchema, path: "\(path)[\($0.offset)]", keepsTypeMeta: itemSchema.embeddedResource) }
            }
            return []
        }
        var out: [String] = []
        for (key, child) in object {
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            if let sub = schema.property(key) ?? schema.additionalProperties {
                out += unknownFields(child, sub, path: childPath, keepsTypeMeta: sub.embeddedResource)
            } else if !(keepsTypeMeta && typeMetaKeys.contains(key)) && !schema.preserveUnknownFields {
                out.append(childPath)
            }
        }
        return out
    }

    static let typeMetaKeys: Set<String> = ["apiVersion", "kind", "metadata"]

    static func applyDefaults(_ value: inout JSONValue, _ schema: StructuralSchema) {
        switch value {
        case .object(var object):
            value = .null
            for (key, sub) in schema.properties {
                if let d = sub.defaultValue, object[key] == nil || (object[key]?.isNull == true && !sub.nullable) { object[key] = d }
                if var child = object[key] {
                    object[key] = nil
                    applyDefaults(&child, sub)
                    object[key] = child
                }
            }
            if let map = schema.additionalProperties {
                for key in object.keys {
                    guard var child = object[key] else { continue }
                    applyDefaults(&child, map)
                    object[key] = child
                }
            }
            value = .object(object)
        case .array(var items):
            guard let itemSchema = schema.items else { return }
            value = .null
            for i in items.indices { applyDefaults(&items[i], itemSchema) }
            value = .array(items)
        default:
            return
        }
    }

    static func prune(_ value: inout JSONValue, _ schema: StructuralSchema, keepsTypeMeta: Bool) {
        switch value {
        case .object(var object):
            value = .null
            var kept = JSONObject()
            for (key, child) in object {
                if let sub = schema.property(key) ?? schema.additionalProperties {
                    var c = child
                    prune(&c, sub, keepsTypeMeta: sub.embeddedResource)
                    kept[key] = c
                } else if (keepsTypeMeta && typeMetaKeys.contains(key)) || schema.preserveUnknownFields {
                    kept[key] = child
                }
            }
            object = kept
            value = .object(object)
        case .array(var items):
            guard let itemSchema = schema.items else { return }
            value = .null
            for i in items.indices { prune(&items[i], itemSchema, keepsTypeMeta: itemSchema.embeddedResource) }
            value = .array(items)
        default:
            return
        }
    }
}
