// Field selectors (`?fieldSelector=metadata.name=web,spec.nodeName!=node-1`), parsed as
// k8s.io/apimachinery/pkg/fields.ParseSelector does: =, == and != terms, with \, \= \\ escapes.

public struct FieldRequirement: Equatable, Sendable {
    public var field: String
    public var value: String
    public var negated: Bool

    /// `fields` maps each supported field path to the object's value for it.
    public func matches(_ fields: [String: String]) -> Bool {
        (fields[field] ?? "") == value ? !negated : negated
    }
}

public struct FieldSelector: Equatable, Sendable {
    public var requirements: [FieldRequirement]

    public static let everything = FieldSelector(requirements: [])

    public init(requirements: [FieldRequirement]) { self.requirements = requirements }

    public func matches(_ fields: [String: String]) -> Bool { requirements.allSatisfy { $0.matches(fields) } }

    /// Parses the selector; `supported` (when given) lists the field paths this resource allows,
    /// as the API server refuses unknown fields with a 400.
    public init(parsing text: String, supported: Set<String>? = nil) throws {
        var reqs: [FieldRequirement] = []
        for term in Self.splitUnescaped(text, on: ",") where !term.isEmpty {
            let (field, op, rawValue) = try Self.splitTerm(term, text: text)
            if let supported, !supported.contains(field) {
                throw FieldError(.notSupported, field: "fieldSelector", value: field,
                                 detail: "field label not supported (supported: \(supported.sorted().joined(separator: ", ")))")
            }
            reqs.append(FieldRequirement(field: field, value: Self.unescape(rawValue), negated: op == "!="))
        }
        requirements = reqs
    }

    private static func splitTerm(_ term: String, text: String) throws -> (String, String, String) {
        let chars = Array(term)
        var i = 0
        while i < chars.count {
            if chars[i] == "\\" { i += 2; continue }
            for op in ["!=", "==", "="] {
                let o = Array(op)
                if i + o.count <= chars.count && Array(chars[i..<(i + o.count)]) == o {
                    let field = String(chars[..<i])
                    guard !field.isEmpty else { break }
                    return (field, op, String(chars[(i + o.count)...]))
                }
            }
            i += 1
        }
        throw FieldError(.invalid, field: "fieldSelector", value: text, detail: "invalid selector term \"\(term)\": expected field=value, field==value or field!=value")
    }

    private static func splitUnescaped(_ s: String, on sep: Character) -> [String] {
        var parts: [String] = []
        var current = ""
        var escaped = false
        for c in s {
            if escaped { current.append("\\"); current.append(c); escaped = false; continue }
            if c == "\\" { escaped = true; continue }
            if c == sep { parts.append(current); current = ""; continue }
            current.append(c)
        }
        if escaped { current.append("\\") }
        parts.append(current)
        return parts
    }

    private static func unescape(_ s: String) -> String {
        var out = ""
        var escaped = false
        for c in s {
            if escaped { out.append(c); escaped = false } else if c == "\\" { escaped = true } else { out.append(c) }
        }
        return out
    }
}
