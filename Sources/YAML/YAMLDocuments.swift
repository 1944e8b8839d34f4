// YAML <-> JSONValue: how manifests written in YAML reach the API (the conversion kubectl does
// client-side, and the API server does for application/yaml bodies), and YAML output sorted and
// quoted as kubectl prints it.
import API
import Yams

public struct YAMLError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

public enum YAMLDocuments {
    /// Every document in `text` as JSON (empty documents skipped). Syntax errors throw.
    public static func parse(_ text: String) throws -> [JSONValue] {
        var out: [JSONValue] = []
        do {
            // Parser.nextRoot, not compose_all: its sequence swallows syntax errors.
            let parser = try Parser(yaml: text)
            while let node = try parser.nextRoot() { out.append(try json(from: node)) }
        } catch let e as YAMLError {
            throw e
        } catch {
            throw YAMLError(description: "\(error)")
        }
        return out
    }

    /// A YAML node as JSON (scalars typed by the YAML 1.1 rules kubectl uses).
    static func json(from node: Yams.Node) throws -> JSONValue {
        switch node {
        case .scalar(let s):
            switch node.tag.description {
            case Tag.Name.null.rawValue: return .null
            case Tag.Name.bool.rawValue: return .bool(node.bool ?? false)
            case Tag.Name.int.rawValue: if let i = node.int { return .int(Int64(i)) }
            case Tag.Name.float.rawValue: if let d = node.float, d.isFinite { return .double(d) }
            default: break
            }
            return .string(s.string)
        case .mapping(let m):
            var obj = JSONObject()
            for (k, v) in m {
                guard case .scalar(let ks) = k else { throw YAMLError(description: "mapping keys must be strings") }
                obj[ks.string] = try json(from: v)
            }
            return .object(obj)
        case .sequence(let seq):
            return .array(try seq.map { try json(from: $0) })
        case .alias:
            throw YAMLError(description: "YAML aliases are not supported")
        }
    }

    /// YAML as kubectl prints it: keys sorted, strings quoted when they would read as something else.
    public static func yaml(_ value: JSONValue) -> String {
        (try? Yams.serialize(node: node(from: value), indent: 2, width: -1, allowUnicode: true, sequenceStyle: .block)) ?? value.jsonString
    }

    static func node(from v: JSONValue) -> Yams.Node {
        switch v {
        case .null: return Node("null", Tag(.null))
        case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
        case .int(let i): return Node(String(i), Tag(.int))
        case .double(let d): return Node(JSONValue.double(d).jsonString, Tag(.float))
        case .string(let s):
            // Quote strings that would read back as another type ("80", "true", "null", "yes").
            let plainIsString = Resolver.default.resolveTag(of: Node(s)) == .str
            return Node(s, Tag(.str), plainIsString ? .any : .doubleQuoted)
        case .array(let a): return Node(a.map { node(from: $0) })
        case .object(let o):
            let pairs = o.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
            return Node(pairs.map { (Node($0.0, Tag(.str)), node(from: $0.1)) })
        }
    }
}
