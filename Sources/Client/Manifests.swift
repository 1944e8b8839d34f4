// Manifests: files, directories, stdin; multi-document YAML or JSON (a List's items are
// expanded), as JSONValue objects with where each came from.
import API
import Foundation
import YAML

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
            do { objects = try YAMLDocuments.parse(text) } catch { throw ClientError("error parsing \(source): \(error)") }
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
}
