// Manifests in, YAML out: files, directories, stdin; multi-document YAML or JSON (a List's
// items are expanded), converted to JSONValue the way kubectl's YAML-to-JSON step does.
import API
import Foundation
import Yams

public struct Manifest: Sendable {
    public var object: JSONValue
    /// Where it came from ("deploy.yaml", "STDIN"), for error messages.
    public var source: String
}

public enum Manifests {
    /// Every object in `paths` ("-" is stdin; directories give their .yaml/.yml/.json files, sorted).
    public static func load(_ paths: [String]) throws -> [Manifest] {
        var out: [Manifest] = []
        for path in paths {
            if path == "-" {
                let data = FileHandle.standardInput.readDataToEndOfFile()
                out += try parse(String(decoding: data, as: UTF8.self), source: "STDIN")
                continue
            }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw ClientError("the path \"\(path)\" does not exist")
            }
            let files: [String]
            if isDir.boolValue {
                files = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
                    .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") || $0.hasSuffix(".json") }
                    .map { (path as NSString).appendingPathComponent($0) }
            } else {
                files = [path]
            }
            for file in files {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ClientError("cannot read \(file)") }
                out += try parse(text, source: file)
            }
        }
        return out
    }

    /// Objects in one text: JSON, or YAML with `---` separated documents.
    public static func parse(_ text: String, source: String) throws -> [Manifest] {
        var objects: [JSONValue] = []
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{") || trimmed.hasPrefix("[") {
            do { objects = [try JSONValue.parse(trimmed)] } catch { throw ClientError("error parsing \(source): \(error)") }
        } else {
            do {
                // Parser.nextRoot, not compose_all: its sequence swallows syntax errors.
                let parser = try Parser(yaml: text)
                while let node = try parser.nextRoot() { objects.append(try json(from: node)) }
            } catch let e as ClientError {
                throw ClientError("error parsing \(source): \(e)")
            } catch {
                throw ClientError("error parsing \(source): \(error)")
            }
        }
        var out: [Manifest] = []
        for obj in objects where !obj.isNull {
            if obj["kind"]?.stringValue?.hasSuffix("List") == true, let items = obj["items"]?.arrayValue {
                out += items.map { Manifest(object: $0, source: source) }
            } else {
                guard case .object = obj else { throw ClientError("error parsing \(source): a manifest must be an object, found \(obj.typeName)") }
                out.append(Manifest(object: obj, source: source))
            }
        }
        return out
    }

    /// A YAML node as JSON (scalars typed by the YAML 1.1 rules kubectl uses).
    public static func json(from node: Node) throws -> JSONValue {
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
                guard case .scalar(let ks) = k else { throw ClientError("mapping keys must be strings") }
                obj[ks.string] = try json(from: v)
            }
            return .object(obj)
        case .sequence(let seq):
            return .array(try seq.map { try json(from: $0) })
        case .alias:
            throw ClientError("YAML aliases are not supported")
        }
    }

    /// YAML as kubectl prints it: keys sorted, strings quoted when they would read as something else.
    public static func yaml(_ value: JSONValue) -> String {
        (try? Yams.serialize(node: node(from: value), indent: 2, width: -1, allowUnicode: true, sequenceStyle: .block)) ?? value.jsonString
    }

    static func node(from v: JSONValue) -> Node {
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
