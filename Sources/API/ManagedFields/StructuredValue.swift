// The four walks server-side apply makes over objects, each aware of how lists merge
// (FieldTypes): the set of fields an object sets, what changed between two versions of it, an
// applied configuration merged into the live object, and fields taken out of an object.

public struct FieldSetError: Error, CustomStringConvertible, Sendable {
    /// Where, as structured-merge-diff prints a path (".spec.containers").
    public let path: String
    public let message: String
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

public enum StructuredValue {
    // MARK: the fields an object sets

    /// Every field `object` sets (leaves, whole atomic values, and map-list items themselves).
    /// `strict` refuses items without their key fields and duplicate keys, as apply does.
    public static func fieldSet(_ object: JSONValue, types: FieldTypes, strict: Bool = false) throws(FieldSetError) -> FieldSet {
        guard let o = object.objectValue else { return FieldSet(member: true) }
        var path: [String] = []
        return try fieldSet(o, parents: [], path: &path, types: types, strict: strict)
    }

    static func fieldSet(_ o: JSONObject, parents: [String], path: inout [String], types: FieldTypes,
                         strict: Bool) throws(FieldSetError) -> FieldSet {
        var set = FieldSet()
        for (k, v) in o {
            path.append(ManagedPath.field(k))
            set.children[ManagedPath.field(k)] = try fieldSet(v, field: k, parents: parents, path: &path, types: types, strict: strict)
            path.removeLast()
        }
        return set
    }

    static func fieldSet(_ v: JSONValue, field: String, parents: [String], path: inout [String], types: FieldTypes,
                         strict: Bool) throws(FieldSetError) -> FieldSet {
        switch v {
        case .object(let o) where !o.isEmpty && !types.isAtomicObject(field, parents):
            return try fieldSet(o, parents: parents + [field], path: &path, types: types, strict: strict)
        case .array(let items) where !items.isEmpty:
            let listType = types.listType(field, parents)
            if listType == .atomic { return FieldSet(member: true) }
            var set = FieldSet()
            for (i, item) in items.enumerated() {
                let element = try itemElement(item, index: i, listType: listType, path: path, strict: strict)
                if strict && set.children[element] != nil {
                    throw FieldSetError(path: ManagedPath.describe(path), message: "duplicate entries for key \(ManagedPath.describe([element]))")
                }
                path.append(element)
                var child = FieldSet(member: true)
                if case .map = listType, let itemObject = item.objectValue {
                    child = try fieldSet(itemObject, parents: parents + [field], path: &path, types: types, strict: strict)
                    child.isMember = true
                }
                path.removeLast()
                set.children[element] = child
            }
            return set
        default:
            return FieldSet(member: true)
        }
    }

    /// An item's path element: its key fields ("k:"), its value in a set ("v:"), or, for a live
    /// item that lacks its key (objects written before the rules), its index.
    static func itemElement(_ item: JSONValue, index: Int, listType: ListType, path: [String],
                            strict: Bool) throws(FieldSetError) -> String {
        switch listType {
        case .atomic: return ManagedPath.index(index)
        case .set: return ManagedPath.value(item)
        case .map(let keys, let defaults):
            var fields: [(String, JSONValue)] = []
            for key in keys {
                if let v = item[key], !v.isNull { fields.append((key, v)) }
                else if let d = defaults[key] { fields.append((key, d)) }
                else if strict {
                    throw FieldSetError(path: ManagedPath.describe(path) + "[\(index)]",
                                        message: "associative list with keys has an element that omits key field \"\(key)\" (and doesn't have default value)")
                } else { return ManagedPath.index(index) }
            }
            return ManagedPath.key(fields)
        }
    }

    static func lenientElement(_ item: JSONValue, _ index: Int, _ listType: ListType) -> String {
        (try? itemElement(item, index: index, listType: listType, path: [], strict: false)) ?? ManagedPath.index(index)
    }

    /// The fields of a stored object, whose lists may predate the key rules (items without keys go by index).
    static func lenientSet(_ object: JSONValue, types: FieldTypes) -> FieldSet {
        (try? fieldSet(object, types: types, strict: false)) ?? FieldSet()
    }

    static func lenientSet(_ v: JSONValue, field: String, parents: [String], types: FieldTypes) -> FieldSet {
        var path: [String] = []
        return (try? fieldSet(v, field: field, parents: parents, path: &path, types: types, strict: false)) ?? FieldSet(member: true)
    }

    // MARK: what changed

    /// The fields `new` adds or changes against `old`, and the fields it drops.
    public static func compare(_ old: JSONValue, _ new: JSONValue, types: FieldTypes) -> (changed: FieldSet, removed: FieldSet) {
        compareObjects(old.objectValue ?? JSONObject(), new.objectValue ?? JSONObject(), parents: [], types: types)
    }

    static func compareObjects(_ old: JSONObject, _ new: JSONObject, parents: [String],
                               types: FieldTypes) -> (changed: FieldSet, removed: FieldSet) {
        var changed = FieldSet(), removed = FieldSet()
        for (k, v) in new {
            let element = ManagedPath.field(k)
            if let before = old[k] {
                let (c, r) = compareValues(before, v, field: k, parents: parents, types: types)
                if !c.isEmpty { changed.children[element] = c }
                if !r.isEmpty { removed.children[element] = r }
            } else {
                changed.children[element] = lenientSet(v, field: k, parents: parents, types: types)
            }
        }
        for (k, v) in old where new[k] == nil {
            removed.children[ManagedPath.field(k)] = lenientSet(v, field: k, parents: parents, types: types)
        }
        return (changed, removed)
    }

    static func compareValues(_ old: JSONValue, _ new: JSONValue, field: String, parents: [String],
                              types: FieldTypes) -> (changed: FieldSet, removed: FieldSet) {
        if old == new { return (FieldSet(), FieldSet()) }
        switch (old, new) {
        case (.object(let o), .object(let n)) where !types.isAtomicObject(field, parents):
            // An empty object is owned as a value; once it has fields, they are.
            var (changed, removed) = compareObjects(o, n, parents: parents + [field], types: types)
            if n.isEmpty { changed.isMember = true }
            if o.isEmpty { removed.isMember = true }
            return (changed, removed)
        case (.array(let o), .array(let n)) where !o.isEmpty && !n.isEmpty && types.listType(field, parents) != .atomic:
            let listType = types.listType(field, parents)
            let oldItems = keyed(o, listType), newItems = keyed(n, listType)
            let oldByElement = Dictionary(oldItems, uniquingKeysWith: { a, _ in a })
            let newByElement = Dictionary(newItems, uniquingKeysWith: { a, _ in a })
            var changed = FieldSet(), removed = FieldSet()
            for (element, item) in newItems {
                guard let before = oldByElement[element] else {
                    var added = lenientItemSet(item, listType: listType, field: field, parents: parents, types: types)
                    added.isMember = true
                    changed.children[element] = added
                    continue
                }
                guard case .map = listType, let b = before.objectValue, let a = item.objectValue else { continue }
                let (c, r) = compareObjects(b, a, parents: parents + [field], types: types)
                if !c.isEmpty { changed.children[element] = c }
                if !r.isEmpty { removed.children[element] = r }
            }
            for (element, item) in oldItems where newByElement[element] == nil {
                var gone = lenientItemSet(item, listType: listType, field: field, parents: parents, types: types)
                gone.isMember = true
                removed.children[element] = gone
            }
            return (changed, removed)
        default:
            return (FieldSet(member: true), FieldSet())
        }
    }

    static func keyed(_ items: [JSONValue], _ listType: ListType) -> [(String, JSONValue)] {
        items.enumerated().map { (lenientElement($0.element, $0.offset, listType), $0.element) }
    }

    static func lenientItemSet(_ item: JSONValue, listType: ListType, field: String, parents: [String],
                               types: FieldTypes) -> FieldSet {
        guard case .map = listType, let o = item.objectValue else { return FieldSet(member: true) }
        var path: [String] = []
        return (try? fieldSet(o, parents: parents + [field], path: &path, types: types, strict: false)) ?? FieldSet(member: true)
    }

    // MARK: merging an applied configuration

    /// `applied` merged into `live`: objects field by field, map lists item by item (live order,
    /// new items after), sets as unions, everything else replaced. A null removes the field.
    public static func merge(_ live: JSONValue, _ applied: JSONValue, types: FieldTypes) -> JSONValue {
        guard let l = live.objectValue, let a = applied.objectValue else { return applied }
        return .object(mergeObjects(l, a, parents: [], types: types))
    }

    static func mergeObjects(_ live: JSONObject, _ applied: JSONObject, parents: [String], types: FieldTypes) -> JSONObject {
        var out = live
        for (k, v) in applied {
            if v.isNull { out[k] = nil; continue }
            out[k] = mergeValues(live[k], v, field: k, parents: parents, types: types)
        }
        return out
    }

    static func mergeValues(_ live: JSONValue?, _ applied: JSONValue, field: String, parents: [String], types: FieldTypes) -> JSONValue {
        switch (live, applied) {
        case (.object(let l)?, .object(let a)) where !types.isAtomicObject(field, parents):
            return .object(mergeObjects(l, a, parents: parents + [field], types: types))
        case (.array(let l)?, .array(let a)):
            let listType = types.listType(field, parents)
            switch listType {
            case .atomic: return applied
            case .set: return .array(l + a.filter { !l.contains($0) })
            case .map:
                var out = l
                var index = Dictionary(keyed(l, listType).enumerated().map { ($0.element.0, $0.offset) }, uniquingKeysWith: { a, _ in a })
                for (element, item) in keyed(a, listType) {
                    if let at = index[element], let liveItem = out[at].objectValue, let appliedItem = item.objectValue {
                        out[at] = .object(mergeObjects(liveItem, appliedItem, parents: parents + [field], types: types))
                    } else if index[element] == nil {
                        index[element] = out.count
                        out.append(item)
                    }
                }
                return .array(out)
            }
        default:
            return applied
        }
    }

    // MARK: removing fields

    /// `object` without the member paths of `set` (a member list item goes whole).
    public static func removing(_ set: FieldSet, from object: JSONValue, types: FieldTypes) -> JSONValue {
        guard let o = object.objectValue else { return object }
        return .object(removing(set, from: o, parents: [], types: types))
    }

    static func removing(_ set: FieldSet, from object: JSONObject, parents: [String], types: FieldTypes) -> JSONObject {
        var out = object
        for (element, sub) in set.children where element.hasPrefix("f:") {
            let name = String(element.dropFirst(2))
            guard let child = out[name] else { continue }
            if sub.isMember { out[name] = nil; continue }
            switch child {
            case .object(let o): out[name] = .object(removing(sub, from: o, parents: parents + [name], types: types))
            case .array(let items):
                let listType = types.listType(name, parents)
                var kept: [JSONValue] = []
                for (element, item) in keyed(items, listType) {
                    let itemSet = sub[element]
                    if itemSet.isMember { continue }
                    if !itemSet.isEmpty, let o = item.objectValue {
                        kept.append(.object(removing(itemSet, from: o, parents: parents + [name], types: types)))
                    } else {
                        kept.append(item)
                    }
                }
                out[name] = .array(kept)
            default: continue
            }
        }
        return out
    }
}
