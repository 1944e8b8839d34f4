// A set of field paths, as server-side apply tracks who owns what: a trie keyed by the FieldsV1
// path elements ("f:spec", "k:{\"name\":\"app\"}", "v:\"a\"", "i:0"), each node saying whether
// the path itself is a member (FieldsV1's "." entry, or an empty {} leaf). The FieldsV1 JSON form
// is the trie written out, so reading and writing managedFields is one walk.

public struct FieldSet: Equatable, Sendable {
    /// The path leading to this node is in the set.
    public var isMember = false
    public var children: [String: FieldSet] = [:]

    public init() {}
    public init(member: Bool) { isMember = member }

    public var isEmpty: Bool { !isMember && children.isEmpty }

    /// Adds one path (its elements in FieldsV1 spelling).
    public mutating func insert(_ path: ArraySlice<String>) {
        guard let first = path.first else { isMember = true; return }
        children[first, default: FieldSet()].insert(path.dropFirst())
    }

    public func contains(_ path: ArraySlice<String>) -> Bool {
        guard let first = path.first else { return isMember }
        return children[first]?.contains(path.dropFirst()) ?? false
    }

    /// The node at `element`, or an empty set.
    public subscript(element: String) -> FieldSet { children[element] ?? FieldSet() }

    public func union(_ other: FieldSet) -> FieldSet {
        var out = self
        out.isMember = isMember || other.isMember
        for (k, v) in other.children { out.children[k] = children[k].map { $0.union(v) } ?? v }
        return out
    }

    public func subtracting(_ other: FieldSet) -> FieldSet {
        var out = FieldSet(member: isMember && !other.isMember)
        for (k, v) in children {
            let rest = other.children[k].map { v.subtracting($0) } ?? v
            if !rest.isEmpty { out.children[k] = rest }
        }
        return out
    }

    public func intersection(_ other: FieldSet) -> FieldSet {
        var out = FieldSet(member: isMember && other.isMember)
        for (k, v) in children {
            guard let o = other.children[k] else { continue }
            let both = v.intersection(o)
            if !both.isEmpty { out.children[k] = both }
        }
        return out
    }

    /// Every member path, elements in FieldsV1 spelling, in a stable order.
    public var paths: [[String]] {
        var out: [[String]] = []
        var prefix: [String] = []
        collect(&prefix, into: &out)
        return out
    }

    private func collect(_ prefix: inout [String], into out: inout [[String]]) {
        if isMember { out.append(prefix) }
        for k in children.keys.sorted() {
            prefix.append(k)
            children[k]!.collect(&prefix, into: &out)
            prefix.removeLast()
        }
    }

    // MARK: FieldsV1

    /// The FieldsV1 JSON object (members with children carry a "." entry).
    public var fieldsV1: JSONValue {
        var o = JSONObject()
        if isMember && !children.isEmpty { o["."] = .object(JSONObject()) }
        for k in children.keys.sorted() { o[k] = children[k]!.fieldsV1 }
        return .object(o)
    }

    /// Reads FieldsV1; nil when it isn't a tree of objects keyed by path elements.
    public init?(fieldsV1 json: JSONValue) {
        guard let o = json.objectValue else { return nil }
        if o.isEmpty { isMember = true; return }
        for (k, v) in o {
            if k == "." { isMember = true; continue }
            guard ManagedPath.isElement(k), let child = FieldSet(fieldsV1: v) else { return nil }
            children[k] = child
        }
    }
}

/// Path elements: built from JSON, and spelled the way conflict messages show them.
public enum ManagedPath {
    public static func field(_ name: String) -> String { "f:" + name }
    public static func key(_ fields: [(String, JSONValue)]) -> String {
        let sorted = fields.sorted { $0.0 < $1.0 }
        return "k:" + JSONValue.object(JSONObject(sorted)).jsonString
    }
    public static func value(_ v: JSONValue) -> String { "v:" + v.jsonString }
    public static func index(_ i: Int) -> String { "i:" + String(i) }

    static func isElement(_ s: String) -> Bool {
        s.hasPrefix("f:") || s.hasPrefix("k:") || s.hasPrefix("v:") || s.hasPrefix("i:")
    }

    /// `.spec.containers[name="app"].image`, as structured-merge-diff prints a path.
    public static func describe(_ path: [String]) -> String {
        var out = ""
        for element in path {
            let body = String(element.dropFirst(2))
            switch element.prefix(2) {
            case "f:": out += "." + body
            case "k:":
                let fields = (try? JSONValue.parse(body))?.objectValue.map { o in o.map { "\($0.key)=\($0.value.jsonString)" } } ?? [body]
                out += "[" + fields.joined(separator: ",") + "]"
            case "v:": out += "[=" + body + "]"
            default: out += "[" + body + "]"
            }
        }
        return out
    }
}
