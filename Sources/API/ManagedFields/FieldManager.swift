// metadata.managedFields kept on every write, and server-side apply on top of it, with
// structured-merge-diff's rules: an update takes the fields it changed from everyone else; an
// apply owns exactly the fields of its configuration, drops the ones it stopped applying that
// nobody else holds, and refuses (409, unless forced) to change a field another manager owns.

/// Who writes, and how the kind's lists merge.
public struct FieldWriter: Sendable {
    public var manager: String
    public var apiVersion: String
    /// "status" or "scale" for writes through a subresource.
    public var subresource: String?
    /// The kind has a status subresource: main-resource writers never own status.
    public var kindHasStatus: Bool
    public var types: FieldTypes
    /// The write's time (RFC 3339), stamped on the writer's entry.
    public var now: String

    public init(manager: String, apiVersion: String, subresource: String?, kindHasStatus: Bool, types: FieldTypes, now: String) {
        self.manager = manager
        self.apiVersion = apiVersion
        self.subresource = subresource
        self.kindHasStatus = kindHasStatus
        self.types = types
        self.now = now
    }
}

/// An apply that would change fields other managers own.
public struct ApplyConflicts: Error, Sendable {
    public var conflicts: [(manager: ManagedFieldsEntry.Identity, path: String)]

    /// kube-apiserver's wording: one line per manager, its fields listed under it.
    public var message: String {
        if conflicts.count == 1, let c = conflicts.first {
            return "Apply failed with 1 conflict: conflict with \(c.manager.description): \(c.path)"
        }
        var lines: [String] = []
        let managers = Dictionary(grouping: conflicts, by: { $0.manager.description })
        for manager in managers.keys.sorted() {
            lines.append("conflicts with \(manager):")
            lines += managers[manager]!.map { "- \($0.path)" }
        }
        return "Apply failed with \(conflicts.count) conflicts: " + lines.joined(separator: "\n")
    }

    public var causes: [Status.Cause] {
        conflicts.map { Status.Cause(reason: "FieldManagerConflict", message: "conflict with \($0.manager.description)", field: $0.path) }
    }
}

public enum FieldManager {
    public static let lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"
    /// Owns what an object held before anyone applied to it.
    static let beforeFirstApply = "before-first-apply"
    /// Holds the fields of the oldest updaters once there are too many (kube-apiserver's name).
    static let ancientChanges = "ancient-changes"
    /// Metadata the server owns (structured-merge-diff's stripped fields).
    static let serverMetadata = ["name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
                                 "managedFields", "resourceVersion"]

    /// The fields of `set` a writer can own: not type or server metadata; status only through /status.
    static func ownable(_ set: FieldSet, _ writer: FieldWriter) -> FieldSet {
        var out = set
        out.children[ManagedPath.field("apiVersion")] = nil
        out.children[ManagedPath.field("kind")] = nil
        if writer.subresource == "status" {
            out.children = out.children.filter { $0.key == ManagedPath.field("status") }
        } else if writer.kindHasStatus {
            out.children[ManagedPath.field("status")] = nil
        }
        let meta = ManagedPath.field("metadata")
        if var m = out.children[meta] {
            for f in serverMetadata { m.children[ManagedPath.field(f)] = nil }
            out.children[meta] = m.isEmpty ? nil : m
        }
        return out
    }

    static func withoutManagedFields(_ object: JSONValue) -> JSONValue {
        var o = object
        o["metadata"]?["managedFields"] = nil
        return o
    }

    static func stamp(_ object: JSONValue, _ entries: [ManagedFieldsEntry]) -> JSONValue {
        var o = object
        let kept = entries.filter { !$0.fields.isEmpty }
        o["metadata"]?["managedFields"] = kept.isEmpty ? nil : .array(ManagedFieldsEntry.sorted(kept).map(\.json))
        return o
    }

    // MARK: update

    /// `new` after a create (old nil), update or patch, with managedFields: starting from
    /// `entries`, the writer's Update entry gains what it changed, everyone else loses it.
    /// (`entries` is read only when the write changed a field: parsing them is most of the cost.)
    public static func update(old: JSONValue?, new: JSONValue, entries: @autoclosure () -> [ManagedFieldsEntry],
                              writer: FieldWriter) -> JSONValue {
        let (c, r) = StructuredValue.compare(withoutManagedFields(old ?? .object(JSONObject())), withoutManagedFields(new),
                                             types: writer.types)
        let changed = ownable(c, writer), removed = ownable(r, writer)
        if changed.isEmpty && removed.isEmpty { return new }
        let identity = ManagedFieldsEntry.Identity(manager: writer.manager, operation: .update, apiVersion: writer.apiVersion,
                                                   subresource: writer.subresource ?? "")
        var out: [ManagedFieldsEntry] = []
        var mine = ManagedFieldsEntry(manager: writer.manager, operation: .update, apiVersion: writer.apiVersion, time: writer.now,
                                      subresource: writer.subresource, fields: FieldSet())
        for var entry in entries() {
            if entry.identity == identity { mine.fields = entry.fields; continue }
            entry.fields = entry.fields.subtracting(changed).subtracting(removed)
            out.append(entry)
        }
        mine.fields = mine.fields.union(changed).subtracting(removed)
        out.append(mine)
        return stamp(new, capped(out))
    }

    /// At most `maxUpdaters` Update entries: the oldest are folded into one "ancient-changes"
    /// entry, so a field touched by many clients over time cannot grow the object without bound.
    static func capped(_ entries: [ManagedFieldsEntry], maxUpdaters: Int = 10) -> [ManagedFieldsEntry] {
        let updaters = entries.filter { $0.operation == .update && !$0.fields.isEmpty }
        guard updaters.count > maxUpdaters else { return entries }
        let byAge = updaters.sorted { ($0.time ?? "") < ($1.time ?? "") }
        let folded = byAge.prefix(updaters.count - maxUpdaters + 1)
        let foldedIDs = Set(folded.map(\.identity))
        var ancient = ManagedFieldsEntry(manager: ancientChanges, operation: .update, apiVersion: folded.last!.apiVersion,
                                         time: folded.last!.time, subresource: nil, fields: FieldSet())
        var out: [ManagedFieldsEntry] = []
        for e in entries {
            if foldedIDs.contains(e.identity) { ancient.fields = ancient.fields.union(e.fields) } else { out.append(e) }
        }
        return out + [ancient]
    }

    // MARK: apply

    /// The live object (nil: none yet) with `config` applied by `writer`.
    public static func apply(live: JSONValue?, config: JSONValue, writer: FieldWriter, force: Bool) throws -> JSONValue {
        let configSet = ownable(try StructuredValue.fieldSet(withoutManagedFields(config), types: writer.types, strict: true), writer)
        let liveObject = live.map(withoutManagedFields)
        var entries = live.flatMap(ManagedFieldsEntry.entries(of:)) ?? []
        if entries.isEmpty, let liveObject {
            let owned = ownable(StructuredValue.lenientSet(liveObject, types: writer.types), writer)
            entries = [ManagedFieldsEntry(manager: beforeFirstApply, operation: .update, apiVersion: writer.apiVersion,
                                          time: nil, subresource: writer.subresource, fields: owned)]
        }
        let identity = ManagedFieldsEntry.Identity(manager: writer.manager, operation: .apply, apiVersion: "",
                                                   subresource: writer.subresource ?? "")
        let previous = entries.first { $0.identity == identity }
        var others = entries.filter { $0.identity != identity }

        // Merge, then prune what this applier applied last time and no one holds any more.
        var merged = liveObject.map { StructuredValue.merge($0, withoutManagedFields(config), types: writer.types) }
            ?? withoutManagedFields(config)
        if let previous {
            let heldByOthers = others.reduce(FieldSet()) { $0.union($1.fields) }
            let dropped = previous.fields.subtracting(configSet).subtracting(heldByOthers)
            if !dropped.isEmpty { merged = StructuredValue.removing(dropped, from: merged, types: writer.types) }
        }

        let (c, r) = StructuredValue.compare(liveObject ?? .object(JSONObject()), merged, types: writer.types)
        let changed = ownable(c, writer), removed = ownable(r, writer)
        var conflicts: [(manager: ManagedFieldsEntry.Identity, path: String)] = []
        var conflictPaths = FieldSet()
        for entry in others {
            let clash = entry.fields.intersection(changed)
            for path in clash.paths { conflicts.append((entry.identity, ManagedPath.describe(path))) }
            conflictPaths = conflictPaths.union(clash)
        }
        if !conflicts.isEmpty && !force
            && !(writer.manager == "kubectl" && clientSideApplyAllows(conflictPaths, live: liveObject, writer: writer)) {
            throw ApplyConflicts(conflicts: conflicts)
        }
        for i in others.indices { others[i].fields = others[i].fields.subtracting(changed).subtracting(removed) }
        let unchanged = previous?.fields == configSet && changed.isEmpty && removed.isEmpty
        others.append(ManagedFieldsEntry(manager: writer.manager, operation: .apply, apiVersion: writer.apiVersion,
                                         time: unchanged ? previous?.time : writer.now, subresource: writer.subresource,
                                         fields: configSet))
        if writer.manager == "kubectl", merged["metadata"]?["annotations"]?[lastAppliedAnnotation] != nil {
            merged["metadata"]?["annotations"]?[lastAppliedAnnotation] = .string(lastAppliedValue(config))
        }
        return stamp(merged, others)
    }

    /// kubectl moving an object from client-side to server-side apply: conflicts on fields whose
    /// live value is still what the last-applied annotation says are the user's own, not a clash.
    static func clientSideApplyAllows(_ conflicts: FieldSet, live: JSONValue?, writer: FieldWriter) -> Bool {
        guard let live, let text = live["metadata"]?["annotations"]?[lastAppliedAnnotation]?.stringValue,
              let lastApplied = try? JSONValue.parse(text),
              lastApplied["apiVersion"]?.stringValue == writer.apiVersion else { return false }
        let (differs, missing) = StructuredValue.compare(lastApplied, live, types: writer.types)
        let allowed = StructuredValue.lenientSet(lastApplied, types: writer.types).subtracting(differs).subtracting(missing)
        return conflicts.subtracting(allowed).isEmpty
    }

    /// The annotation kubectl's client-side apply reads: the configuration without the annotation itself.
    static func lastAppliedValue(_ config: JSONValue) -> String {
        var c = withoutManagedFields(config)
        c["metadata"]?["annotations"]?[lastAppliedAnnotation] = nil
        if c["metadata"]?["annotations"]?.objectValue?.isEmpty == true { c["metadata"]?["annotations"] = nil }
        return c.jsonString + "\n"
    }
}
