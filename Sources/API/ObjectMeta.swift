// Metadata every Kubernetes object carries, with its JSON field names (nil fields are omitted).

public struct TypeMeta: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public init(apiVersion: String? = nil, kind: String? = nil) { self.apiVersion = apiVersion; self.kind = kind }
}

// ObjectMeta and OwnerReference are views generated from Schema/meta.schema.

extension ObjectMeta {
    /// Validation of the fields clients set, with Kubernetes' field paths and messages.
    public func validate(namespaced: Bool, path: String = "metadata") -> [FieldError] {
        var errs: [FieldError] = []
        switch (name, generateName) {
        case (nil, nil), ("", nil), (nil, ""):
            errs.append(FieldError(.required, field: path + ".name", detail: "name or generateName is required"))
        case (let n?, _) where !n.isEmpty:
            errs += NameValidation.dns1123Subdomain(n, field: path + ".name")
        default:
            break
        }
        if namespaced {
            if let ns = namespace, !ns.isEmpty { errs += NameValidation.dns1123Label(ns, field: path + ".namespace") }
        } else if let ns = namespace, !ns.isEmpty {
            errs.append(FieldError(.invalid, field: path + ".namespace", value: ns, detail: "not allowed on this type"))
        }
        for (k, v) in (labels ?? [:]).sorted(by: { $0.key < $1.key }) {
            errs += NameValidation.qualifiedName(k, field: path + ".labels")
            errs += NameValidation.labelValue(v, field: path + ".labels")
        }
        for k in (annotations ?? [:]).keys.sorted() { errs += NameValidation.qualifiedName(k, field: path + ".annotations") }
        let annotationBytes = (annotations ?? [:]).reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        if annotationBytes > 256 * 1024 {
            errs.append(FieldError(.tooLong, field: path + ".annotations", detail: "may not be more than 262144 bytes"))
        }
        for (i, f) in (finalizers ?? []).enumerated() { errs += NameValidation.qualifiedName(f, field: "\(path).finalizers[\(i)]") }
        return errs
    }
}

public struct ListMeta: Codable, Sendable, Equatable {
    public var resourceVersion: String?
    public var `continue`: String?
    public var remainingItemCount: Int64?
    public init(resourceVersion: String? = nil, continue token: String? = nil) {
        self.resourceVersion = resourceVersion
        self.continue = token
    }
}

/// The error (and success) object the API returns: `{"kind":"Status","apiVersion":"v1",...}`.
public struct Status: Codable, Sendable, Equatable, Error {
    public struct Cause: Codable, Sendable, Equatable {
        public var reason: String?
        public var message: String?
        public var field: String?

        public init(reason: String?, message: String?, field: String? = nil) {
            self.reason = reason; self.message = message; self.field = field
        }
    }
    public struct Details: Codable, Sendable, Equatable {
        public var name: String?
        public var group: String?
        public var kind: String?
        public var causes: [Cause]?
        public var retryAfterSeconds: Int?

        public init(name: String? = nil, group: String? = nil, kind: String? = nil, causes: [Cause]? = nil, retryAfterSeconds: Int? = nil) {
            self.name = name; self.group = group; self.kind = kind; self.causes = causes; self.retryAfterSeconds = retryAfterSeconds
        }
    }

    public var kind = "Status"
    public var apiVersion = "v1"
    public var metadata = ListMeta()
    public var status: String
    public var message: String?
    public var reason: String?
    public var details: Details?
    public var code: Int

    public init(code: Int, reason: String, message: String, details: Details? = nil) {
        self.status = code < 400 ? "Success" : "Failure"
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    /// 404: `pods "web" not found`.
    public static func notFound(group: String, resource: String, name: String) -> Status {
        Status(code: 404, reason: "NotFound", message: "\(qualified(resource, group)) \"\(name)\" not found",
               details: Details(name: name, group: group.isEmpty ? nil : group, kind: resource))
    }

    /// 403 for an authorization refusal (details name the resource, as kube-apiserver's do).
    public static func forbidden(group: String, resource: String, name: String?, message: String) -> Status {
        Status(code: 403, reason: "Forbidden", message: message,
               details: Details(name: name, group: group.isEmpty ? nil : group, kind: resource))
    }

    /// 409: `pods "web" already exists`.
    public static func alreadyExists(group: String, resource: String, name: String) -> Status {
        Status(code: 409, reason: "AlreadyExists", message: "\(qualified(resource, group)) \"\(name)\" already exists",
               details: Details(name: name, group: group.isEmpty ? nil : group, kind: resource))
    }

    /// 409 on a stale resourceVersion, in kubectl's familiar words.
    public static func conflict(group: String, resource: String, name: String) -> Status {
        Status(code: 409, reason: "Conflict",
               message: "Operation cannot be fulfilled on \(qualified(resource, group)) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
               details: Details(name: name, group: group.isEmpty ? nil : group, kind: resource))
    }

    /// 422 with one cause per field error: `Pod "web" is invalid: metadata.name: Invalid value: ...`.
    public static func invalid(group: String, kind: String, name: String, errors: [FieldError]) -> Status {
        let list = errors.map(\.description)
        let summary = list.count == 1 ? list[0] : "[" + list.joined(separator: ", ") + "]"
        // Named as Go's GroupKind prints: "Deployment.apps", "Pod".
        let qualified = group.isEmpty ? kind : kind + "." + group
        return Status(code: 422, reason: "Invalid", message: "\(qualified) \"\(name)\" is invalid: \(summary)",
                      details: Details(name: name, group: group.isEmpty ? nil : group, kind: kind,
                                       causes: errors.map { Cause(reason: $0.kind.rawValue, message: $0.body, field: $0.field) }))
    }

    public static func badRequest(_ message: String) -> Status { Status(code: 400, reason: "BadRequest", message: message) }

    /// Success without an object (what pods/binding and pods/eviction answer).
    public static func success(code: Int = 200) -> Status {
        var s = Status(code: code, reason: "", message: "")
        s.reason = nil
        s.message = nil
        return s
    }

    /// 429: refused for now (an eviction its disruption budget forbids), with the cause.
    public static func tooManyRequests(_ message: String, cause: (reason: String, message: String), retryAfterSeconds: Int? = nil) -> Status {
        Status(code: 429, reason: "TooManyRequests", message: message,
               details: Details(causes: [Cause(reason: cause.reason, message: cause.message)], retryAfterSeconds: retryAfterSeconds))
    }

    /// 410 for a watch or list from a compacted resourceVersion.
    public static func gone(_ message: String) -> Status { Status(code: 410, reason: "Expired", message: message) }

    private static func qualified(_ resource: String, _ group: String) -> String { group.isEmpty ? resource : "\(resource).\(group)" }
}
