// One metadata.managedFields entry: who wrote which fields, by which operation, through which
// version and subresource. Entries of one writer are identified as kube-apiserver identifies
// them: manager, operation and subresource, plus the apiVersion for updates (an applier keeps
// one entry whatever version it applies through).

public struct ManagedFieldsEntry: Equatable, Sendable {
    public enum Operation: String, Sendable { case apply = "Apply", update = "Update" }

    public var manager: String
    public var operation: Operation
    public var apiVersion: String
    public var time: String?
    public var subresource: String?
    public var fields: FieldSet

    public init(manager: String, operation: Operation, apiVersion: String, time: String?, subresource: String?,
                fields: FieldSet) {
        self.manager = manager
        self.operation = operation
        self.apiVersion = apiVersion
        self.time = time
        self.subresource = subresource
        self.fields = fields
    }

    public var identity: Identity {
        Identity(manager: manager, operation: operation, apiVersion: operation == .update ? apiVersion : "",
                 subresource: subresource ?? "")
    }

    public struct Identity: Hashable, Sendable {
        public var manager: String
        public var operation: Operation
        public var apiVersion: String
        public var subresource: String

        /// As conflict messages name a manager: `"kubectl-edit" using apps/v1`.
        public var description: String {
            var out = "\"\(manager)\""
            if !subresource.isEmpty { out += " with subresource \"\(subresource)\"" }
            if operation == .update { out += " using \(apiVersion)" }
            return out
        }
    }

    /// Reads an entry; nil when it is not one (no manager or operation, fields not FieldsV1).
    public init?(json: JSONValue) {
        guard let manager = json["manager"]?.stringValue,
              let operation = json["operation"]?.stringValue.flatMap(Operation.init(rawValue:)) else { return nil }
        if let type = json["fieldsType"]?.stringValue, type != "FieldsV1" { return nil }
        let fields: FieldSet
        if let raw = json["fieldsV1"] {
            guard let f = FieldSet(fieldsV1: raw) else { return nil }
            fields = f
        } else {
            fields = FieldSet()
        }
        self.init(manager: manager, operation: operation, apiVersion: json["apiVersion"]?.stringValue ?? "",
                  time: json["time"]?.stringValue, subresource: json["subresource"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 },
                  fields: fields)
    }

    public var json: JSONValue {
        var o = JSONObject()
        o["manager"] = .string(manager)
        o["operation"] = .string(operation.rawValue)
        o["apiVersion"] = .string(apiVersion)
        if let time { o["time"] = .string(time) }
        o["fieldsType"] = "FieldsV1"
        o["fieldsV1"] = fields.fieldsV1
        if let subresource { o["subresource"] = .string(subresource) }
        return .object(o)
    }

    /// The entries of an object's metadata; nil when there are none or they don't parse.
    public static func entries(of object: JSONValue) -> [ManagedFieldsEntry]? {
        guard let list = object["metadata"]?["managedFields"]?.arrayValue, !list.isEmpty else { return nil }
        var out: [ManagedFieldsEntry] = []
        for item in list {
            guard let entry = ManagedFieldsEntry(json: item) else { return nil }
            out.append(entry)
        }
        return out
    }

    /// kube-apiserver's order: appliers first, then by time, manager, version, subresource.
    public static func sorted(_ entries: [ManagedFieldsEntry]) -> [ManagedFieldsEntry] {
        entries.sorted { p, q in
            if p.operation != q.operation { return p.operation == .apply }
            if (p.time ?? "") != (q.time ?? "") { return (p.time ?? "") < (q.time ?? "") }
            if p.manager != q.manager { return p.manager < q.manager }
            if p.apiVersion != q.apiVersion { return p.apiVersion < q.apiVersion }
            return (p.subresource ?? "") < (q.subresource ?? "")
        }
    }
}
