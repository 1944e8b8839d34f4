// OpenAPI schemas from the definitions: OpenAPI 3.0 components (/openapi/v3/<gv>) or Swagger 2.0
// definitions (/openapi/v2). The two differ only in where a $ref points and in how a referenced
// field carries its description ($ref siblings are ignored in 3.0, so 3.0 wraps it in allOf).

public enum OpenAPIFlavor: Sendable { case v2, v3 }

extension OpenAPIDefinitions {
    /// Every definition reachable from `roots` (kinds' component names), by name, with the shared
    /// leaf types they use, so every $ref resolves within the same document.
    public static func components(reachableFrom roots: [String], _ flavor: OpenAPIFlavor) -> JSONObject {
        var out: [String: JSONValue] = [:]
        var queue = roots, seen = Set<String>()
        while let name = queue.popLast() {
            guard seen.insert(name).inserted else { continue }
            if let leaf = leafSchema(name, flavor) { out[name] = leaf; continue }
            guard let def = byName[name] else { continue }
            out[name] = schema(def, flavor)
            for f in def.fields { queue += references(f.type) }
        }
        return JSONObject(out.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    static func references(_ t: OpenAPIType) -> [String] {
        switch t {
        case .ref(let name): return [name]
        case .time: return [timeName]
        case .quantity: return [quantityName]
        case .intOrString: return [intOrStringName]
        case .array(let e), .map(let e): return references(e)
        default: return []
        }
    }

    static func refPath(_ name: String, _ flavor: OpenAPIFlavor) -> JSONValue {
        .string((flavor == .v3 ? "#/components/schemas/" : "#/definitions/") + name)
    }

    public static func schema(_ def: OpenAPIDefinition, _ flavor: OpenAPIFlavor) -> JSONValue {
        var properties = JSONObject()
        for f in def.fields { properties[f.name] = property(f, flavor) }
        var out: JSONValue = ["type": "object", "properties": .object(properties)]
        if !def.description.isEmpty { out["description"] = .string(def.description) }
        let required = def.fields.filter { $0.annotations["required"] != nil }.map { JSONValue.string($0.name) }
        if !required.isEmpty { out["required"] = .array(required) }
        if let gvk = def.gvk {
            out["x-kubernetes-group-version-kind"] = [["group": .string(gvk.group), "version": .string(gvk.version), "kind": .string(gvk.kind)]]
        }
        return out
    }

    static func property(_ f: OpenAPIField, _ flavor: OpenAPIFlavor) -> JSONValue {
        var out = typeSchema(f.type, flavor)
        if !f.description.isEmpty {
            if flavor == .v3, out["$ref"] != nil { out = ["allOf": [out]] }
            out["description"] = .string(f.description)
        }
        if let key = f.annotations["mergeKey"] {
            out["x-kubernetes-patch-merge-key"] = .string(key)
            out["x-kubernetes-patch-strategy"] = "merge"
        }
        if let listType = f.annotations["listType"] { out["x-kubernetes-list-type"] = .string(listType) }
        if let keys = f.annotations["listMapKeys"] {
            out["x-kubernetes-list-map-keys"] = .array(keys.split(separator: ",").map { .string(String($0)) })
        }
        return out
    }

    static func typeSchema(_ t: OpenAPIType, _ flavor: OpenAPIFlavor) -> JSONValue {
        switch t {
        case .string: return ["type": "string"]
        case .integer: return ["type": "integer", "format": "int64"]
        case .boolean: return ["type": "boolean"]
        case .number: return ["type": "number", "format": "double"]
        case .any: return flavor == .v3 ? ["x-kubernetes-preserve-unknown-fields": true] : ["type": "object"]
        case .enumeration(let values): return ["type": "string", "enum": .array(values.map { .string($0) })]
        case .array(let e): return ["type": "array", "items": typeSchema(e, flavor)]
        case .map(let e): return ["type": "object", "additionalProperties": typeSchema(e, flavor)]
        case .time, .quantity, .intOrString, .ref:
            return ["$ref": refPath(references(t)[0], flavor)]
        }
    }

    /// Upstream's shared leaf types (apimachinery's Quantity, Time and IntOrString).
    static func leafSchema(_ name: String, _ flavor: OpenAPIFlavor) -> JSONValue? {
        switch name {
        case quantityName:
            let description: JSONValue = "A fixed-point amount with an optional suffix: 100m, 1.5, 2Gi, 1e3 (a number or its text)."
            return flavor == .v3 ? ["description": description, "oneOf": [["type": "string"], ["type": "number"]]]
                                 : ["description": description, "type": "string"]
        case timeName:
            return ["description": "A point in time as RFC 3339 text, to the second (2024-01-02T15:04:05Z).", "type": "string", "format": "date-time"]
        case microTimeName:
            return ["description": "A point in time as RFC 3339 text with microseconds (2024-01-02T15:04:05.000000Z).", "type": "string", "format": "date-time"]
        case intOrStringName:
            return ["description": "A value that is either a number or a string (a port number or its name, 25 or \"25%\").",
                    "type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": true]
        default: return nil
        }
    }
}
