// Label selectors: the string syntax (`app=web,tier!=db,env in (a,b),!legacy,gen>3`) parsed as
// k8s.io/apimachinery/pkg/labels.Parse does, and matching against a label set.

public struct LabelRequirement: Equatable, Sendable, CustomStringConvertible {
    public enum Operator: String, Sendable {
        case equals = "=", doubleEquals = "==", notEquals = "!=", `in` = "in", notIn = "notin"
        case exists = "exists", doesNotExist = "!", greaterThan = "gt", lessThan = "lt"
    }
    public var key: String
    public var op: Operator
    public var values: [String]

    public func matches(_ labels: [String: String]) -> Bool {
        let value = labels[key]
        switch op {
        case .equals, .doubleEquals, .in: return value.map { values.contains($0) } ?? false
        case .notEquals, .notIn: return value.map { !values.contains($0) } ?? true
        case .exists: return value != nil
        case .doesNotExist: return value == nil
        case .greaterThan, .lessThan:
            guard let v = value.flatMap({ Int64($0) }), let bound = values.first.flatMap({ Int64($0) }) else { return false }
            return op == .greaterThan ? v > bound : v < bound
        }
    }

    public var description: String {
        switch op {
        case .exists: return key
        case .doesNotExist: return "!" + key
        case .in, .notIn: return "\(key) \(op.rawValue) (\(values.joined(separator: ",")))"
        case .greaterThan: return "\(key)>\(values.first ?? "")"
        case .lessThan: return "\(key)<\(values.first ?? "")"
        default: return key + op.rawValue + (values.first ?? "")
        }
    }
}

public struct LabelSelector: Equatable, Sendable, CustomStringConvertible {
    /// All must match (AND); empty selects everything.
    public var requirements: [LabelRequirement]

    public init(requirements: [LabelRequirement]) { self.requirements = requirements }

    public static let everything = LabelSelector(requirements: [])

    public func matches(_ labels: [String: String]) -> Bool { requirements.allSatisfy { $0.matches(labels) } }

    public var description: String { requirements.map(\.description).joined(separator: ",") }

    /// Parses the selector syntax of `?labelSelector=`; errors name the parameter and the problem.
    public init(parsing text: String, field: String = "labelSelector") throws {
        var p = Parser(Array(text.utf8), field: field, text: text)
        requirements = try p.parse()
    }

    private struct Parser {
        let b: [UInt8]
        let field: String
        let text: String
        var i = 0

        init(_ b: [UInt8], field: String, text: String) { self.b = b; self.field = field; self.text = text }

        mutating func parse() throws -> [LabelRequirement] {
            var out: [LabelRequirement] = []
            skipSpace()
            if i == b.count { return out }
            while true {
                out.append(try requirement())
                skipSpace()
                if i == b.count { return out }
                guard b[i] == UInt8(ascii: ",") else { throw error("expected ',' at position \(i)") }
                i += 1
            }
        }

        mutating func requirement() throws -> LabelRequirement {
            skipSpace()
            if peek("!") {
                i += 1
                let key = try identifier(what: "key")
                try validateKey(key)
                return LabelRequirement(key: key, op: .doesNotExist, values: [])
            }
            let key = try identifier(what: "key")
            try validateKey(key)
            skipSpace()
            if i == b.count || peek(",") { return LabelRequirement(key: key, op: .exists, values: []) }
            let op: LabelRequirement.Operator
            if peek("==") { op = .doubleEquals; i += 2 }
            else if peek("!=") { op = .notEquals; i += 2 }
            else if peek("=") { op = .equals; i += 1 }
            else if peek(">") { op = .greaterThan; i += 1 }
            else if peek("<") { op = .lessThan; i += 1 }
            else if peekWord("notin") { op = .notIn; i += 5 }
            else if peekWord("in") { op = .in; i += 2 }
            else { throw error("unknown operator after \"\(key)\" at position \(i)") }
            skipSpace()
            if op == .in || op == .notIn {
                guard peek("(") else { throw error("expected '(' after \(op.rawValue)") }
                i += 1
                var values: [String] = []
                while true {
                    skipSpace()
                    if peek(")") && values.isEmpty { break }
                    let v = try identifier(what: "value", allowEmpty: true)
                    try validateValue(v)
                    values.append(v)
                    skipSpace()
                    if peek(",") { i += 1; continue }
                    break
                }
                guard peek(")") else { throw error("expected ')' to close the value list") }
                i += 1
                guard !values.isEmpty else { throw error("\(op.rawValue) needs at least one value") }
                return LabelRequirement(key: key, op: op, values: values)
            }
            let v = try identifier(what: "value", allowEmpty: op != .greaterThan && op != .lessThan)
            if op == .greaterThan || op == .lessThan {
                guard Int64(v) != nil else { throw error("\(v) is not an integer for \(op == .greaterThan ? ">" : "<")") }
            } else {
                try validateValue(v)
            }
            return LabelRequirement(key: key, op: op, values: [v])
        }

        /// A run of characters that are not operators, separators or spaces.
        mutating func identifier(what: String, allowEmpty: Bool = false) throws -> String {
            let start = i
            while i < b.count, !" \t\n,=!()<>".utf8.contains(b[i]) { i += 1 }
            guard i > start || allowEmpty else { throw error("expected a \(what) at position \(start)") }
            return String(decoding: b[start..<i], as: UTF8.self)
        }

        func validateKey(_ k: String) throws {
            if let e = NameValidation.qualifiedName(k, field: field).first { throw e }
        }

        func validateValue(_ v: String) throws {
            if let e = NameValidation.labelValue(v, field: field).first { throw e }
        }

        mutating func skipSpace() { while i < b.count, b[i] == 32 || b[i] == 9 || b[i] == 10 { i += 1 } }

        func peek(_ s: String) -> Bool {
            let t = Array(s.utf8)
            return i + t.count <= b.count && Array(b[i..<(i + t.count)]) == t
        }

        /// A keyword followed by a space or '('.
        func peekWord(_ w: String) -> Bool {
            let n = w.utf8.count
            guard peek(w) else { return false }
            return i + n < b.count && (b[i + n] == 32 || b[i + n] == UInt8(ascii: "("))
        }

        func error(_ detail: String) -> FieldError { FieldError(.invalid, field: field, value: text, detail: detail) }
    }
}
