// The three PATCH flavours the API accepts: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
// and strategic merge patch — merge patch that merges lists of objects by a key (containers by
// name, ports by containerPort...) and understands kubectl apply's $patch, $retainKeys,
// $setElementOrder and $deleteFromPrimitiveList directives.

public struct PatchError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public enum Patch {
    // MARK: merge patch

    public static func mergePatch(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(let p) = patch else { return patch }
        var t: JSONObject = target.objectValue ?? JSONObject()
        for (k, v) in p {
            if v.isNull { t[k] = nil } else { t[k] = mergePatch(t[k] ?? .null, v) }
        }
        return .object(t)
    }

    // MARK: JSON patch

    public static func jsonPatch(_ target: JSONValue, _ patch: JSONValue) throws -> JSONValue {
        guard let ops = patch.arrayValue else { throw PatchError("a JSON patch must be an array of operations") }
        var doc = target
        for (i, op) in ops.enumerated() {
            guard let name = op["op"]?.stringValue else { throw PatchError("operation \(i): missing \"op\"") }
            guard let path = op["path"]?.stringValue else { throw PatchError("operation \(i) (\(name)): missing \"path\"") }
            let pointer = try parsePointer(path)
            switch name {
            case "add":
                guard let value = op["value"] else { throw PatchError("operation \(i) (add): missing \"value\"") }
                doc = try add(doc, pointer[...], value, path: path)
            case "remove":
                doc = try remove(doc, pointer[...], path: path).0
            case "replace":
                guard let value = op["value"] else { throw PatchError("operation \(i) (replace): missing \"value\"") }
                _ = try get(doc, pointer[...], path: path)
                doc = try remove(doc, pointer[...], path: path).0
                doc = try add(doc, pointer[...], value, path: path)
            case "move", "copy":
                guard let from = op["from"]?.stringValue else { throw PatchError("operation \(i) (\(name)): missing \"from\"") }
                let fromPointer = try parsePointer(from)
                var value = try get(doc, fromPointer[...], path: from)
                if name == "move" { (doc, value) = try remove(doc, fromPointer[...], path: from) }
                doc = try add(doc, pointer[...], value, path: path)
            case "test":
                guard let value = op["value"] else { throw PatchError("operation \(i) (test): missing \"value\"") }
                guard try get(doc, pointer[...], path: path) == value else { throw PatchError("test operation failed at \(path)") }
            default:
                throw PatchError("operation \(i): unknown op \"\(name)\"")
            }
        }
        return doc
    }

    static func parsePointer(_ path: String) throws -> [String] {
        if path.isEmpty { return [] }
        guard path.hasPrefix("/") else { throw PatchError("invalid JSON pointer \"\(path)\": must start with /") }
        return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    static func index(_ token: String, count: Int, path: String, allowEnd: Bool) throws -> Int {
        if allowEnd && token == "-" { return count }
        guard let n = Int(token), n >= 0, n < count + (allowEnd ? 1 : 0) else { throw PatchError("array index \(token) out of range at \(path)") }
        return n
    }

    static func get(_ doc: JSONValue, _ ptr: ArraySlice<String>, path: String) throws -> JSONValue {
        guard let first = ptr.first else { return doc }
        switch doc {
        case .object(let o):
            guard let child = o[first] else { throw PatchError("path \(path) does not exist") }
            return try get(child, ptr.dropFirst(), path: path)
        case .array(let a):
            return try get(a[try index(first, count: a.count, path: path, allowEnd: false)], ptr.dropFirst(), path: path)
        default:
            throw PatchError("path \(path) does not exist")
        }
    }

    static func add(_ doc: JSONValue, _ ptr: ArraySlice<String>, _ value: JSONValue, path: String) throws -> JSONValue {
        guard let first = ptr.first else { return value }
        switch doc {
        case .object(var o):
            if ptr.count == 1 { o[first] = value; return .object(o) }
            guard let child = o[first] else { throw PatchError("path \(path) does not exist") }
            o[first] = try add(child, ptr.dropFirst(), value, path: path)
            return .object(o)
        case .array(var a):
            let i = try index(first, count: a.count, path: path, allowEnd: ptr.count == 1)
            if ptr.count == 1 { a.insert(value, at: i); return .array(a) }
            a[i] = try add(a[i], ptr.dropFirst(), value, path: path)
            return .array(a)
        default:
            throw PatchError("path \(path) does not exist")
        }
    }

    static func remove(_ doc: JSONValue, _ ptr: ArraySlice<String>, path: String) throws -> (JSONValue, JSONValue) {
        guard let first = ptr.first else { throw PatchError("cannot remove the whole document") }
        switch doc {
        case .object(var o):
            guard let child = o[first] else { throw PatchError("path \(path) does not exist") }
            if ptr.count == 1 { o[first] = nil; return (.object(o), child) }
            let (newChild, removed) = try remove(child, ptr.dropFirst(), path: path)
            o[first] = newChild
            return (.object(o), removed)
        case .array(var a):
            let i = try index(first, count: a.count, path: path, allowEnd: false)
            if ptr.count == 1 { let r = a.remove(at: i); return (.array(a), r) }
            let (newChild, removed) = try remove(a[i], ptr.dropFirst(), path: path)
            a[i] = newChild
            return (.array(a), removed)
        default:
            throw PatchError("path \(path) does not exist")
        }
    }

    // MARK: strategic merge patch

    /// How a list field merges: by a key in its elements, as a set of primitives, or replaced whole.
    enum ListStrategy: Equatable, Sendable { case mergeByKey(String), mergePrimitives, replace }

    /// The patch strategies of the built-in types (patchStrategy/patchMergeKey struct tags), by
    /// field name and the field names leading to it.
    private static let listStrategies = PathMemo<ListStrategy>()

    static func listStrategy(field: String, parents: [String], kind: String) -> ListStrategy {
        listStrategies.value(kind: kind, parents: parents, field: field) {
            computeListStrategy(field: field, parents: parents, kind: kind)
        }
    }

    private static func computeListStrategy(field: String, parents: [String], kind: String) -> ListStrategy {
        // The schema's @mergeKey wins; the table below answers for the fields the schema does not
        // annotate yet (it is being completed), with the same keys upstream's struct tags give.
        if let key = OpenAPIDefinitions.field(kind: kind, path: parents + [field])?.annotations["mergeKey"] { return .mergeByKey(key) }
        switch field {
        case "containers", "initContainers", "ephemeralContainers", "volumes", "imagePullSecrets", "resourceClaims",
             "schedulingGates", "env":
            return .mergeByKey("name")
        case "volumeMounts": return .mergeByKey("mountPath")
        case "volumeDevices": return .mergeByKey("devicePath")
        case "hostAliases", "podIPs": return .mergeByKey("ip")
        case "ownerReferences": return .mergeByKey("uid")
        case "finalizers": return parents == ["metadata"] ? .mergePrimitives : .replace
        case "conditions": return parents.last == "status" ? .mergeByKey("type") : .replace
        case "addresses": return kind == "Node" && parents == ["status"] ? .mergeByKey("type") : .replace
        case "ports":
            if let p = parents.last, p == "containers" || p == "initContainers" || p == "ephemeralContainers" {
                return .mergeByKey("containerPort")
            }
            if kind == "Service" && parents == ["spec"] { return .mergeByKey("port") }
            return .replace
        case "topologySpreadConstraints": return .mergeByKey("topologyKey")
        default: return .replace
        }
    }

    public static func strategicMergePatch(_ original: JSONValue, _ patch: JSONValue, kind: String) throws -> JSONValue {
        try smpValue(original, patch, parents: [], kind: kind)
    }

    static func smpValue(_ original: JSONValue, _ patch: JSONValue, parents: [String], kind: String) throws -> JSONValue {
        guard case .object(let p) = patch else { return patch }
        if let directive = p["$patch"]?.stringValue {
            switch directive {
            case "replace":
                var copy = p
                copy["$patch"] = nil
                return .object(copy)
            case "delete": return .null
            default: throw PatchError("unknown patch directive \"\(directive)\"")
            }
        }
        var result = original.objectValue ?? JSONObject()
        var orders: [String: [JSONValue]] = [:]
        var retainKeys: [String]?
        for (k, v) in p {
            if k == "$retainKeys" { retainKeys = v.arrayValue?.compactMap(\.stringValue); continue }
            if k.hasPrefix("$setElementOrder/") { orders[String(k.dropFirst("$setElementOrder/".count))] = v.arrayValue ?? []; continue }
            if k.hasPrefix("$deleteFromPrimitiveList/") {
                let field = String(k.dropFirst("$deleteFromPrimitiveList/".count))
                let remove = v.arrayValue ?? []
                if let list = result[field]?.arrayValue { result[field] = .array(list.filter { !remove.contains($0) }) }
                continue
            }
            if v.isNull { result[k] = nil; continue }
            let path = parents + [k]
            switch v {
            case .object:
                let merged = try smpValue(result[k] ?? .null, v, parents: path, kind: kind)
                result[k] = merged.isNull ? nil : merged
            case .array(let items):
                result[k] = .array(try mergeList(result[k]?.arrayValue ?? [], items, strategy: listStrategy(field: k, parents: parents, kind: kind),
                                                 parents: path, kind: kind))
            default:
                result[k] = v
            }
        }
        for (field, order) in orders {
            guard let list = result[field]?.arrayValue else { continue }
            result[field] = .array(reorder(list, by: order, strategy: listStrategy(field: field, parents: parents, kind: kind)))
        }
        if let keep = retainKeys {
            for k in result.keys where !keep.contains(k) { result[k] = nil }
        }
        return .object(result)
    }

    static func mergeList(_ original: [JSONValue], _ patch: [JSONValue], strategy: ListStrategy,
                          parents: [String], kind: String) throws -> [JSONValue] {
        switch strategy {
        case .replace:
            return patch
        case .mergePrimitives:
            var out = original
            for v in patch where !out.contains(v) { out.append(v) }
            return out
        case .mergeByKey(let key):
            // {"$patch": "replace"} anywhere in the list replaces the whole list with the rest.
            if patch.contains(where: { $0["$patch"]?.stringValue == "replace" }) {
                return patch.filter { $0["$patch"]?.stringValue != "replace" }
            }
            var out = original
            for item in patch {
                guard let keyValue = item[key] else { out.append(item); continue }
                let at = out.firstIndex { $0[key] == keyValue }
                if item["$patch"]?.stringValue == "delete" {
                    if let at { out.remove(at: at) }
                    continue
                }
                if let at {
                    out[at] = try smpValue(out[at], item, parents: parents, kind: kind)
                } else {
                    out.append(try smpValue(.object(JSONObject()), item, parents: parents, kind: kind))
                }
            }
            return out
        }
    }

    /// Orders `list` as `order` names its elements (by merge key or value); others keep their place after.
    static func reorder(_ list: [JSONValue], by order: [JSONValue], strategy: ListStrategy) -> [JSONValue] {
        func identity(_ v: JSONValue) -> JSONValue? {
            if case .mergeByKey(let key) = strategy { return v[key] }
            return v
        }
        var remaining = list
        var out: [JSONValue] = []
        for o in order {
            let id = identity(o)
            if let i = remaining.firstIndex(where: { identity($0) == id }) { out.append(remaining.remove(at: i)) }
        }
        return out + remaining
    }
}
