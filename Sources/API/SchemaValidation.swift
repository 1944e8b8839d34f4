// Validation of a custom resource against its version's structural schema, with the wording
// apiextensions-apiserver's errors have: `spec.replicas: Invalid value: 50: spec.replicas in body
// should be less than or equal to 10`.
import Foundation
import Synchronization

public enum SchemaValidation {
    /// Every violation of `schema` by `value` (`path` is the value's field path, "" at the root).
    public static func validate(_ value: JSONValue, _ schema: StructuralSchema, path: String = "") -> [FieldError] {
        var errors: [FieldError] = []
        check(value, schema, path: path, into: &errors)
        return errors
    }

    static func field(_ path: String) -> String { path.isEmpty ? "<root>" : path }

    /// The value as Go's %v shows it in an error (numbers bare, strings quoted by FieldError).
    static func shown(_ v: JSONValue) -> (String, raw: Bool) {
        switch v {
        case .string(let s): return (s, false)
        case .int(let i): return (String(i), true)
        case .double(let d): return (d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d), true)
        case .bool(let b): return (String(b), true)
        case .null: return ("null", false)
        default: return (v.jsonString, true)
        }
    }

    static func invalid(_ v: JSONValue, _ path: String, _ detail: String) -> FieldError {
        let (text, raw) = shown(v)
        return FieldError(.invalid, field: field(path), value: text, detail: detail, rawValue: raw)
    }

    static func typeName(_ v: JSONValue) -> String {
        switch v {
        case .int: return "integer"
        case .double(let d): return d == d.rounded() ? "integer" : "number"
        default: return v.typeName
        }
    }

    static func check(_ value: JSONValue, _ schema: StructuralSchema, path: String, into errors: inout [FieldError]) {
        let name = field(path)
        if value.isNull {
            if schema.nullable || schema.type.isEmpty { return }
            errors.append(FieldError(.invalid, field: name, value: "null", detail: "\(name) in body must be of type \(schema.type): \"null\""))
            return
        }
        if schema.intOrString {
            switch value {
            case .int, .string: break
            case .double(let d) where d == d.rounded(): break
            default:
                errors.append(FieldError(.invalid, field: name, value: typeName(value),
                                         detail: "\(name) in body must be of type integer,string: \"\(typeName(value))\""))
                return
            }
        } else if !schema.type.isEmpty, !matchesType(value, schema.type) {
            errors.append(FieldError(.invalid, field: name, value: typeName(value),
                                     detail: "\(name) in body must be of type \(schema.type): \"\(typeName(value))\""))
            return
        }
        if !schema.enumValues.isEmpty, !schema.enumValues.contains(where: { equalValues($0, value) }) {
            let supported = schema.enumValues.map { $0.stringValue.map { "\"\($0)\"" } ?? $0.jsonString }.joined(separator: ", ")
            errors.append(FieldError(.notSupported, field: name, value: shown(value).0, detail: "supported values: \(supported)"))
        }
        switch value {
        case .string(let s): checkString(s, schema, path: path, into: &errors)
        case .int, .double: checkNumber(value, schema, path: path, into: &errors)
        case .array(let items): checkArray(items, schema, path: path, into: &errors)
        case .object(let object): checkObject(object, schema, path: path, into: &errors)
        default: break
        }
    }

    static func matchesType(_ v: JSONValue, _ type: String) -> Bool {
        switch (type, v) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("number", .int), ("number", .double),
             ("integer", .int):
            return true
        case ("integer", .double(let d)): return d == d.rounded()
        default: return false
        }
    }

    static func equalValues(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = StructuralSchema.number(a), let y = StructuralSchema.number(b) { return x == y }
        return a == b
    }

    static func checkString(_ s: String, _ schema: StructuralSchema, path: String, into errors: inout [FieldError]) {
        let name = field(path)
        let length = Int64(s.count)
        if let max = schema.maxLength, length > max {
            errors.append(FieldError(.tooLong, field: name, value: s, detail: "may not be longer than \(max)"))
        }
        if let min = schema.minLength, length < min {
            errors.append(invalid(.string(s), path, "\(name) in body should be at least \(min) chars long"))
        }
        if let pattern = schema.pattern, !SchemaPatterns.matches(s, pattern) {
            errors.append(invalid(.string(s), path, "\(name) in body should match '\(pattern)'"))
        }
        if let format = schema.format, !SchemaFormats.valid(s, format: format) {
            errors.append(invalid(.string(s), path, "\(name) in body must be of type \(format): \"\(s)\""))
        }
    }

    static func checkNumber(_ v: JSONValue, _ schema: StructuralSchema, path: String, into errors: inout [FieldError]) {
        let name = field(path)
        guard let n = StructuralSchema.number(v) else { return }
        if let max = schema.maximum {
            let bound = shown(.double(max)).0
            if schema.exclusiveMaximum, n >= max { errors.append(invalid(v, path, "\(name) in body should be less than \(bound)")) }
            else if n > max { errors.append(invalid(v, path, "\(name) in body should be less than or equal to \(bound)")) }
        }
        if let min = schema.minimum {
            let bound = shown(.double(min)).0
            if schema.exclusiveMinimum, n <= min { errors.append(invalid(v, path, "\(name) in body should be greater than \(bound)")) }
            else if n < min { errors.append(invalid(v, path, "\(name) in body should be greater than or equal to \(bound)")) }
        }
        if schema.format == "int32", n < Double(Int32.min) || n > Double(Int32.max) {
            errors.append(invalid(v, path, "\(name) in body must be of type int32: \"\(shown(v).0)\""))
        }
    }

    static func checkArray(_ items: [JSONValue], _ schema: StructuralSchema, path: String, into errors: inout [FieldError]) {
        let name = field(path)
        if let max = schema.maxItems, items.count > max {
            errors.append(FieldError(.tooMany, field: name, value: String(items.count), detail: "must have at most \(max) items"))
        }
        if let min = schema.minItems, items.count < min {
            errors.append(FieldError(.invalid, field: name, value: String(items.count), detail: "\(name) in body should have at least \(min) items",
                                     rawValue: true))
        }
        guard let itemSchema = schema.items else { return }
        for (i, item) in items.enumerated() { check(item, itemSchema, path: "\(path)[\(i)]", into: &errors) }
    }

    static func checkObject(_ object: JSONObject, _ schema: StructuralSchema, path: String, into errors: inout [FieldError]) {
        let prefix = path.isEmpty ? "" : path + "."
        for key in schema.required where object[key] == nil {
            errors.append(FieldError(.required, field: prefix + key, detail: ""))
        }
        if schema.embeddedResource {
            for key in ["apiVersion", "kind"] where (object[key]?.stringValue ?? "").isEmpty {
                errors.append(FieldError(.required, field: prefix + key, detail: "must not be empty"))
            }
        }
        for (key, child) in object {
            if let sub = schema.property(key) { check(child, sub, path: prefix + key, into: &errors) }
            else if let map = schema.additionalProperties { check(child, map, path: prefix + key, into: &errors) }
        }
    }
}

/// `pattern` as ECMA-262 regular expressions (the CRD's author's), compiled once each: every
/// write of a kind checks the same few patterns.
enum SchemaPatterns {
    static let compiled = Mutex<[String: NSRegularExpression]>([:])

    static func regex(_ pattern: String) -> NSRegularExpression? {
        if let r = compiled.withLock({ $0[pattern] }) { return r }
        guard let r = try? NSRegularExpression(pattern: pattern) else { return nil }
        compiled.withLock { if $0.count < 4096 { $0[pattern] = r } }
        return r
    }

    static func matches(_ s: String, _ pattern: String) -> Bool {
        guard let regex = regex(pattern) else { return true }
        return regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    static func compiles(_ pattern: String) -> Bool { regex(pattern) != nil }
}

/// The string formats apiextensions-apiserver checks; others are annotations only.
enum SchemaFormats {
    static func valid(_ s: String, format: String) -> Bool {
        switch format {
        case "date-time": return ISO8601DateFormatter().date(from: s) != nil || fractionalDate(s)
        case "date": return s.range(of: #"^\d{4}-\d{2}-\d{2}$"#, options: .regularExpression) != nil
        case "byte": return Data(base64Encoded: s) != nil
        case "uuid": return UUID(uuidString: s) != nil
        case "ipv4": return IPv4CIDR.parse(s) != nil
        case "int-or-string": return true
        default: return true
        }
    }

    static func fractionalDate(_ s: String) -> Bool {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s) != nil
    }
}
