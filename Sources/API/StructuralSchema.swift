// A CRD version's OpenAPI v3 schema in the structural form apiextensions-apiserver requires:
// every node says its type (unless x-kubernetes-int-or-string or x-kubernetes-preserve-unknown-fields
// stands in for it), objects list their properties, arrays their items. Parsing reports what makes
// a schema non-structural, worded as upstream does, so a CRD carrying one is refused.

public final class StructuralSchema: Sendable {
    public let type: String              // "object", "array", "string", "integer", "number", "boolean" or ""
    public let properties: [(String, StructuralSchema)]
    public let items: StructuralSchema?
    /// A map's value schema (additionalProperties with a schema); nil when absent.
    public let additionalProperties: StructuralSchema?
    public let required: [String]
    public let enumValues: [JSONValue]
    public let pattern: String?
    public let format: String?
    public let minimum: Double?
    public let maximum: Double?
    public let exclusiveMinimum: Bool
    public let exclusiveMaximum: Bool
    public let minLength: Int64?
    public let maxLength: Int64?
    public let minItems: Int64?
    public let maxItems: Int64?
    public let nullable: Bool
    public let defaultValue: JSONValue?
    public let description: String?
    public let preserveUnknownFields: Bool
    public let intOrString: Bool
    public let embeddedResource: Bool
    /// The schema as written (the OpenAPI documents publish it).
    public let json: JSONValue

    public func property(_ name: String) -> StructuralSchema? { properties.first { $0.0 == name }?.1 }

    init(json: JSONValue, properties: [(String, StructuralSchema)], items: StructuralSchema?, additionalProperties: StructuralSchema?) {
        self.json = json
        type = json["type"]?.stringValue ?? ""
        self.properties = properties
        self.items = items
        self.additionalProperties = additionalProperties
        required = (json["required"]?.arrayValue ?? []).compactMap(\.stringValue)
        enumValues = json["enum"]?.arrayValue ?? []
        pattern = json["pattern"]?.stringValue
        format = json["format"]?.stringValue
        minimum = Self.number(json["minimum"])
        maximum = Self.number(json["maximum"])
        exclusiveMinimum = json["exclusiveMinimum"]?.boolValue ?? false
        exclusiveMaximum = json["exclusiveMaximum"]?.boolValue ?? false
        minLength = json["minLength"]?.intValue
        maxLength = json["maxLength"]?.intValue
        minItems = json["minItems"]?.intValue
        maxItems = json["maxItems"]?.intValue
        nullable = json["nullable"]?.boolValue ?? false
        defaultValue = json["default"]
        description = json["description"]?.stringValue
        preserveUnknownFields = json["x-kubernetes-preserve-unknown-fields"]?.boolValue ?? false
        intOrString = json["x-kubernetes-int-or-string"]?.boolValue ?? false
        embeddedResource = json["x-kubernetes-embedded-resource"]?.boolValue ?? false
    }

    static func number(_ v: JSONValue?) -> Double? {
        switch v {
        case .int(let i)?: return Double(i)
        case .double(let d)?: return d
        default: return nil
        }
    }

    static let knownTypes: Set<String> = ["object", "array", "string", "integer", "number", "boolean"]
    /// Keywords a structural schema may not use (they make the shape of the data ambiguous).
    static let forbiddenKeywords = ["$ref", "additionalItems", "patternProperties", "dependencies", "definitions", "id", "uniqueItems"]

    /// Parses `json` at `path` (e.g. "spec.versions[0].schema.openAPIV3Schema"), collecting what is not structural.
    public static func parse(_ json: JSONValue, path: String, errors: inout [FieldError], root: Bool = true) -> StructuralSchema {
        guard case .object = json else {
            errors.append(FieldError(.invalid, field: path, value: json.jsonString, detail: "must be an object", rawValue: true))
            return StructuralSchema(json: .object(JSONObject()), properties: [], items: nil, additionalProperties: nil)
        }
        let type = json["type"]?.stringValue ?? ""
        let intOrString = json["x-kubernetes-int-or-string"]?.boolValue ?? false
        let preserve = json["x-kubernetes-preserve-unknown-fields"]?.boolValue ?? false
        if json["x-kubernetes-validations"] != nil {
            errors.append(FieldError(.forbidden, field: path + ".x-kubernetes-validations",
                                     detail: "CEL validation rules (x-kubernetes-validations) are not supported yet by Skiff"))
        }
        for keyword in forbiddenKeywords where json[keyword] != nil {
            errors.append(FieldError(.forbidden, field: "\(path).\(keyword)", detail: "\(keyword) is forbidden in a structural schema"))
        }
        if !type.isEmpty, !knownTypes.contains(type) {
            let shown = ["array", "boolean", "integer", "number", "object", "string"].map { "\"\($0)\"" }.joined(separator: ", ")
            errors.append(FieldError(.notSupported, field: path + ".type", value: type, detail: "supported values: \(shown)"))
        }
        if type.isEmpty && !intOrString && !preserve && !(root == false && json["x-kubernetes-embedded-resource"]?.boolValue == true) {
            errors.append(FieldError(.required, field: path + ".type", detail: "must not be empty for specified object fields"))
        }
        if root, type != "object", !type.isEmpty {
            errors.append(FieldError(.invalid, field: path + ".type", value: type, detail: "must be object at the root"))
        }
        if intOrString, !type.isEmpty {
            errors.append(FieldError(.forbidden, field: path + ".type", detail: "must be empty if x-kubernetes-int-or-string is true"))
        }
        if json["x-kubernetes-embedded-resource"]?.boolValue == true, type != "object" {
            errors.append(FieldError(.invalid, field: path + ".type", value: type,
                                     detail: "must be object if x-kubernetes-embedded-resource is true"))
        }
        for combinator in ["allOf", "anyOf", "oneOf", "not"] where json[combinator] != nil && !intOrString {
            errors.append(FieldError(.forbidden, field: "\(path).\(combinator)",
                                     detail: "\(combinator) is not supported by Skiff's structural schemas yet"))
        }
        var properties: [(String, StructuralSchema)] = []
        if let props = json["properties"] {
            guard let object = props.objectValue else {
                errors.append(FieldError(.invalid, field: path + ".properties", value: props.typeName, detail: "must be an object"))
                return StructuralSchema(json: json, properties: [], items: nil, additionalProperties: nil)
            }
            if type != "object", !type.isEmpty {
                errors.append(FieldError(.forbidden, field: path + ".properties", detail: "must be empty for type \(type)"))
            }
            for (name, sub) in object {
                properties.append((name, parse(sub, path: "\(path).properties[\(name)]", errors: &errors, root: false)))
            }
        }
        var items: StructuralSchema?
        if let i = json["items"] {
            items = parse(i, path: path + ".items", errors: &errors, root: false)
        } else if type == "array" {
            errors.append(FieldError(.required, field: path + ".items", detail: "must be specified"))
        }
        var additional: StructuralSchema?
        if let a = json["additionalProperties"] {
            if case .object = a {
                additional = parse(a, path: path + ".additionalProperties", errors: &errors, root: false)
                if json["properties"] != nil {
                    errors.append(FieldError(.forbidden, field: path + ".additionalProperties",
                                             detail: "additionalProperties and properties are mutual exclusive"))
                }
            } else if a.boolValue == false {
                errors.append(FieldError(.forbidden, field: path + ".additionalProperties", detail: "must not be false"))
            }
        }
        return StructuralSchema(json: json, properties: properties, items: items, additionalProperties: additional)
    }
}
