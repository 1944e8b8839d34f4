// Validation errors that name the field path, as Kubernetes reports them in a 422 Status.

public struct FieldError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case invalid = "FieldValueInvalid"
        case required = "FieldValueRequired"
        case duplicate = "FieldValueDuplicate"
        case notSupported = "FieldValueNotSupported"
        case tooLong = "FieldValueTooLong"
        case forbidden = "FieldValueForbidden"
        case notFound = "FieldValueNotFound"
        case tooMany = "FieldValueTooMany"
    }
    public let kind: Kind
    /// e.g. "metadata.labels", "spec.selector.matchExpressions[0].key".
    public let field: String
    public let value: String
    public let detail: String
    /// `value` is shown as is, not quoted: Go's rendering of a non-string bad value (`[]string{"a", "b"}`).
    public let rawValue: Bool

    public init(_ kind: Kind, field: String, value: String = "", detail: String, rawValue: Bool = false) {
        self.kind = kind; self.field = field; self.value = value; self.detail = detail; self.rawValue = rawValue
    }

    /// An invalid list of strings, shown as Go's %#v shows a []string.
    public static func invalid(_ field: String, strings: [String], detail: String) -> FieldError {
        FieldError(.invalid, field: field, value: "[]string{" + strings.map { "\"\($0)\"" }.joined(separator: ", ") + "}", detail: detail, rawValue: true)
    }

    /// The message without the field path (a Status cause's message; the path is its `field`).
    public var body: String {
        let d = description
        return d.hasPrefix(field + ": ") ? String(d.dropFirst(field.count + 2)) : d
    }

    /// Kubernetes' wording: `metadata.labels: Invalid value: "a b": name part must consist of ...`.
    public var description: String {
        switch kind {
        case .required: return "\(field): Required value: \(detail)"
        case .invalid: return "\(field): Invalid value: \(rawValue ? value : "\"" + value + "\""): \(detail)"
        case .duplicate: return "\(field): Duplicate value: \"\(value)\""
        case .notSupported: return "\(field): Unsupported value: \"\(value)\": \(detail)"
        case .tooLong: return "\(field): Too long: \(detail)"
        case .forbidden: return "\(field): Forbidden: \(detail)"
        case .notFound: return "\(field): Not found: \"\(value)\""
        case .tooMany: return "\(field): Too many: \(value): \(detail)"
        }
    }
}

/// Kubernetes name and label syntax checks (k8s.io/apimachinery/pkg/util/validation).
public enum NameValidation {
    static let qualifiedNameMessage = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
    static let labelValueMessage = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
    static let dns1123SubdomainMessage = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
    static let dns1123LabelMessage = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"

    static let dns1035LabelMessage = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"

    static func isAlnum(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
    static func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 97 && b <= 122) }

    /// Any name that is a valid URL path segment (RBAC objects: "system:discovery").
    public static func pathSegment(_ s: String, field: String) -> [FieldError] {
        if s == "." || s == ".." { return [FieldError(.invalid, field: field, value: s, detail: "may not be '\(s)'")] }
        if s.contains("/") { return [FieldError(.invalid, field: field, value: s, detail: "may not contain '/'")] }
        if s.contains("%") { return [FieldError(.invalid, field: field, value: s, detail: "may not contain '%'")] }
        return []
    }

    /// [a-z]([-a-z0-9]*[a-z0-9])?, at most 63 characters (Service names: they become DNS labels and env names).
    public static func dns1035Label(_ s: String, field: String) -> [FieldError] {
        let b = Array(s.utf8)
        var errs: [FieldError] = []
        if b.count > 63 { errs.append(FieldError(.invalid, field: field, value: s, detail: "must be no more than 63 characters")) }
        if b.isEmpty || !(b[0] >= 97 && b[0] <= 122) || !isLowerAlnum(b[b.count - 1]) || !b.allSatisfy({ isLowerAlnum($0) || $0 == 45 }) {
            errs.append(FieldError(.invalid, field: field, value: s, detail: dns1035LabelMessage))
        }
        return errs
    }

    /// [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters (namespace names).
    public static func dns1123Label(_ s: String, field: String) -> [FieldError] {
        let b = Array(s.utf8)
        var errs: [FieldError] = []
        if b.count > 63 { errs.append(FieldError(.invalid, field: field, value: s, detail: "must be no more than 63 characters")) }
        if b.isEmpty || !isLowerAlnum(b[0]) || !isLowerAlnum(b[b.count - 1]) || !b.allSatisfy({ isLowerAlnum($0) || $0 == 45 }) {
            errs.append(FieldError(.invalid, field: field, value: s, detail: dns1123LabelMessage))
        }
        return errs
    }

    /// Dot-separated DNS-1123 labels, at most 253 characters (most object names).
    public static func dns1123Subdomain(_ s: String, field: String) -> [FieldError] {
        let b = Array(s.utf8)
        if b.count > 253 { return [FieldError(.invalid, field: field, value: s, detail: "must be no more than 253 characters")] }
        let ok = !b.isEmpty && isLowerAlnum(b[0]) && isLowerAlnum(b[b.count - 1])
            && b.allSatisfy { isLowerAlnum($0) || $0 == 45 || $0 == 46 }
            && !s.split(separator: ".", omittingEmptySubsequences: false).contains { part in
                part.isEmpty || !isLowerAlnum(part.utf8.first ?? 0) || !isLowerAlnum(part.utf8.last ?? 0)
            }
        return ok ? [] : [FieldError(.invalid, field: field, value: s, detail: dns1123SubdomainMessage)]
    }

    /// A label key or annotation key: [prefix/]name, prefix a DNS subdomain, name ≤ 63.
    public static func qualifiedName(_ s: String, field: String) -> [FieldError] {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else {
            return [FieldError(.invalid, field: field, value: s, detail: "a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'")]
        }
        var errs: [FieldError] = []
        if parts.count == 2 {
            if parts[0].isEmpty {
                errs.append(FieldError(.invalid, field: field, value: s, detail: "prefix part must be non-empty"))
            } else {
                errs += dns1123Subdomain(String(parts[0]), field: field).map {
                    FieldError(.invalid, field: field, value: s, detail: "prefix part " + $0.detail)
                }
            }
        }
        let name = Array((parts.last ?? "").utf8)
        if name.isEmpty {
            errs.append(FieldError(.invalid, field: field, value: s, detail: "name part must be non-empty"))
        } else if name.count > 63 {
            errs.append(FieldError(.invalid, field: field, value: s, detail: "name part must be no more than 63 characters"))
        } else if !isAlnum(name[0]) || !isAlnum(name[name.count - 1]) || !name.allSatisfy({ isAlnum($0) || $0 == 45 || $0 == 95 || $0 == 46 }) {
            errs.append(FieldError(.invalid, field: field, value: s, detail: qualifiedNameMessage))
        }
        return errs
    }

    /// A label value: empty, or ≤ 63 of [A-Za-z0-9_.-] starting and ending alphanumeric.
    public static func labelValue(_ s: String, field: String) -> [FieldError] {
        let b = Array(s.utf8)
        if b.isEmpty { return [] }
        if b.count > 63 { return [FieldError(.invalid, field: field, value: s, detail: "must be no more than 63 characters")] }
        let ok = isAlnum(b[0]) && isAlnum(b[b.count - 1]) && b.allSatisfy { isAlnum($0) || $0 == 45 || $0 == 95 || $0 == 46 }
        return ok ? [] : [FieldError(.invalid, field: field, value: s, detail: labelValueMessage)]
    }

    /// IANA service names (container and service port names): up to 15 of [a-z0-9-], a letter, no "--".
    public static func portName(_ s: String, field: String) -> [FieldError] {
        let b = Array(s.utf8)
        var problems: [String] = []
        if b.count > 15 { problems.append("must be no more than 15 characters") }
        if !b.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }) {
            problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
        }
        if !b.contains(where: { $0 >= 97 && $0 <= 122 }) { problems.append("must contain at least one letter (a-z)") }
        if s.contains("--") { problems.append("must not contain consecutive hyphens") }
        if b.first == 45 || b.last == 45 { problems.append("must not begin or end with a hyphen") }
        return problems.map { FieldError(.invalid, field: field, value: s, detail: $0) }
    }
}
