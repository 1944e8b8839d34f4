// The JSONPath subset CRDs use: printer columns (`.spec.cronSpec`, `.status.conditions[0].type`,
// `.status.conditions[?(@.type=="Ready")].status`, `.items[*].name`) and the scale
// subresource's replica and selector paths (plain `.spec.replicas`, also written to).
import Foundation

public struct FieldPath: Sendable, Equatable {
    enum Step: Sendable, Equatable {
        case key(String)
        case index(Int)
        case all
        case filter(key: String, value: String)
    }
    let steps: [Step]

    /// nil when the path is outside the subset.
    public init?(_ text: String) {
        var s = Substring(text.trimmingCharacters(in: .whitespaces))
        if s.hasPrefix("{") && s.hasSuffix("}") { s = s.dropFirst().dropLast() }
        var steps: [Step] = []
        while !s.isEmpty {
            if s.first == "." {
                s = s.dropFirst()
                let key = s.prefix { $0 != "." && $0 != "[" }
                guard !key.isEmpty else { return nil }
                steps.append(.key(String(key)))
                s = s.dropFirst(key.count)
            } else if s.first == "[" {
                guard let close = s.firstIndex(of: "]") else { return nil }
                let inner = s[s.index(after: s.startIndex)..<close]
                s = s[s.index(after: close)...]
                if inner == "*" { steps.append(.all) }
                else if let i = Int(inner) { steps.append(.index(i)) }
                else if inner.hasPrefix("?(@.") && inner.hasSuffix(")"), let eq = inner.range(of: "==") {
                    let key = inner[inner.index(inner.startIndex, offsetBy: 4)..<eq.lowerBound]
                    let value = inner[eq.upperBound...].dropLast().trimmingCharacters(in: CharacterSet(charactersIn: "\"' "))
                    steps.append(.filter(key: String(key), value: value))
                } else if inner.hasPrefix("'") || inner.hasPrefix("\"") {
                    steps.append(.key(inner.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))))
                } else { return nil }
            } else {
                return nil
            }
        }
        self.steps = steps
    }

    /// Every value the path reaches (none when it reaches nothing).
    public func values(in root: JSONValue) -> [JSONValue] {
        var current = [root]
        for step in steps {
            var next: [JSONValue] = []
            for v in current {
                switch step {
                case .key(let k): if let c = v[k] { next.append(c) }
                case .index(let i):
                    if let a = v.arrayValue { let j = i < 0 ? a.count + i : i; if a.indices.contains(j) { next.append(a[j]) } }
                case .all: next += v.arrayValue ?? v.objectValue.map { Array($0.values) } ?? []
                case .filter(let key, let value):
                    next += (v.arrayValue ?? []).filter { ($0[key]?.stringValue ?? $0[key]?.jsonString) == value }
                }
            }
            current = next
        }
        return current
    }

    public func first(in root: JSONValue) -> JSONValue? { values(in: root).first }

    /// Sets a plain key path (`.spec.replicas`), creating objects on the way.
    public func set(_ value: JSONValue, in root: inout JSONValue) {
        let keys = steps.compactMap { if case .key(let k) = $0 { return k } else { return nil } }
        guard keys.count == steps.count, !keys.isEmpty else { return }
        Self.assign(value, keys[...], in: &root)
    }

    static func assign(_ value: JSONValue, _ keys: ArraySlice<String>, in node: inout JSONValue) {
        guard let first = keys.first else { node = value; return }
        var child = node[first] ?? .object(JSONObject())
        if child.isNull && keys.count > 1 { child = .object(JSONObject()) }
        node[first] = nil
        assign(value, keys.dropFirst(), in: &child)
        node[first] = child
    }
}
