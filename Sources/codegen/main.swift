// codegen: reads the API schema (Sources/API/Schema/*.schema) and writes the typed views over
// JSONValue (Sources/API/Generated/*.swift). Run through hack/codegen.sh; CI regenerates and fails
// when the committed output differs.
//
// A schema file declares each kind once:
//     kind Job batch/v1            an object served by the API (apiVersion, kind, metadata)
//     struct JobSpec               a nested object
//       parallelism: Int           a field: JSON name, then its type (`as swiftName` renames)
//     enum RestartPolicy: Always OnFailure Never
// Types: String Int Bool Double Time MicroTime JSON IntOrString Quantity (as written, a number read as
// its decimal text), [String] [Int] [View] (arrays), {String} {Time} and {Quantity} (maps), and any
// struct or enum declared in the schema. `/// text` lines document the next declaration or field;
// `@name [value]` lines annotate the next field (`@required`, `@mergeKey name`, `@listType map|set|atomic`,
// `@listMapKeys a,b`, and `@enum A B` on a String field: the closed set OpenAPI documents, `""` for the empty value, the
// Swift view staying a String). `kind HorizontalPodAutoscaler autoscaling/v1 as HorizontalPodAutoscalerV1`
// (and `struct X as Y`) names a declaration upstream's way and its Swift view (and references) the other.
// Protobuf: `kind Job batch/v1 proto=batch.Job` / `struct JobSpec proto=batch.JobSpec` name the
// message, and `parallelism: Int = 1` gives a field its number; messages with numbered fields get
// a table in Generated/ProtobufTables.swift (the others' tables are in ProtobufSchemas.swift).
// OpenAPI: every kind and struct, with its docs and annotations, goes into Generated/<File>OpenAPI.swift,
// one per schema file, joined in Generated/OpenAPITable.swift (OpenAPITable.swift here); a struct's
// group version is its proto package's, the kind's before it, or
// the one the file's first `# group/version` line names.
import Foundation

struct Field {
    var json: String; var swift: String; var type: String; var doc: [String]; var number: Int?
    /// `@name [value]` lines before the field (`@required`, `@mergeKey name`, `@listType map`,
    /// `@listMapKeys containerPort,protocol`): facts the OpenAPI documents and server-side apply read.
    var annotations: [String: String] = [:]
}
struct Decl {
    enum Shape { case kind(apiVersion: String), object, enumeration([String]) }
    /// The Swift view's name, which other declarations refer to it by.
    var name: String
    /// Upstream's name (the kind, the OpenAPI component): the name unless `as` renamed the view.
    var upstream: String
    var shape: Shape
    var doc: [String]
    var proto: String?
    var fields: [Field] = []
}

struct SchemaError: Error, CustomStringConvertible {
    var description: String
}

func parse(_ text: String, file: String) throws -> [Decl] {
    var decls: [Decl] = []
    var doc: [String] = []
    var annotations: [String: String] = [:]
    for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let line = raw.trimmingCharacters(in: .whitespaces)
        let at = "\(file):\(n + 1)"
        if line.isEmpty || line.hasPrefix("# ") || line == "#" { continue }
        if line.hasPrefix("///") {
            doc.append(line.dropFirst(3).trimmingCharacters(in: .whitespaces))
            continue
        }
        if line.hasPrefix("@") {
            let parts = line.dropFirst().split(separator: " ", maxSplits: 1).map(String.init)
            guard raw.hasPrefix(" "), let name = parts.first else { throw SchemaError(description: "\(at): an `@annotation` line belongs before a field") }
            annotations[name] = parts.count > 1 ? parts[1] : ""
            continue
        }
        let words = line.split(separator: " ").map(String.init)
        if raw.hasPrefix(" ") {
            guard !decls.isEmpty, case .enumeration = decls[decls.count - 1].shape else {
                var rest = words.dropFirst(2)
                var swift = String(words[0].dropLast()), number: Int?
                if rest.first == "as", rest.count >= 2 { swift = rest.dropFirst().first!; rest = rest.dropFirst(2) }
                if rest.first == "=", rest.count == 2, let n = Int(rest.last!) { number = n; rest = [] }
                guard !decls.isEmpty, words.count >= 2, words[0].hasSuffix(":"), rest.isEmpty else {
                    throw SchemaError(description: "\(at): expected `name: Type [as swiftName] [= protobufNumber]` inside a declaration")
                }
                let json = String(words[0].dropLast())
                decls[decls.count - 1].fields.append(Field(json: json, swift: swift, type: words[1], doc: doc, number: number, annotations: annotations))
                doc = []; annotations = [:]
                continue
            }
            throw SchemaError(description: "\(at): an enum has no fields")
        }
        var plain = words
        let proto = plain.last.flatMap { $0.hasPrefix("proto=") ? String($0.dropFirst(6)) : nil }
        if proto != nil { plain.removeLast() }
        var swiftName: String?
        if plain.count >= 2, plain[plain.count - 2] == "as", ["kind", "struct"].contains(plain.first) { swiftName = plain.removeLast(); plain.removeLast() }
        switch plain.first {
        case "kind" where plain.count == 3:
            decls.append(Decl(name: swiftName ?? words[1], upstream: words[1], shape: .kind(apiVersion: words[2]), doc: doc, proto: proto))
        case "struct" where plain.count == 2:
            decls.append(Decl(name: swiftName ?? words[1], upstream: words[1], shape: .object, doc: doc, proto: proto))
        case "enum" where words.count >= 3 && words[1].hasSuffix(":"):
            let name = String(words[1].dropLast())
            decls.append(Decl(name: name, upstream: name, shape: .enumeration(Array(words[2...])), doc: doc))
        default:
            throw SchemaError(description: "\(at): expected `kind Name group/version [as SwiftName] [proto=pkg.Message]`, `struct Name [as SwiftName] [proto=pkg.Message]` or `enum Name: A B`")
        }
        doc = []
    }
    return decls
}

/// A Swift identifier for an enum value: "OnFailure" → onFailure, "NonIndexed" → nonIndexed.
func caseName(_ value: String) -> String {
    let cleaned = value.filter { $0.isLetter || $0.isNumber }
    let leadingUpper = cleaned.prefix { $0.isUppercase }
    let lower = leadingUpper.count > 1 && leadingUpper.count < cleaned.count
        ? leadingUpper.dropLast().lowercased() + cleaned.dropFirst(leadingUpper.count - 1)
        : cleaned.prefix(1).lowercased() + cleaned.dropFirst()
    return ["default", "internal", "public", "private", "true", "false", "none", "in", "is", "as", "case", "for", "if", "else", "return", "var", "let", "func", "self", "nil", "do", "try", "throw", "where", "while", "switch", "repeat", "break", "continue", "import", "init", "deinit", "extension", "enum", "struct", "class", "protocol", "static", "operator", "subscript", "typealias", "defer", "guard", "catch", "throws", "rethrows", "super", "any", "some", "inout"].contains(lower) ? "`\(lower)`" : lower
}

struct Generator {
    var decls: [String: Decl]

    func isView(_ t: String) -> Bool {
        guard let d = decls[t] else { return false }
        if case .enumeration = d.shape { return false }
        return true
    }
    func isEnum(_ t: String) -> Bool {
        guard let d = decls[t], case .enumeration = d.shape else { return false }
        return true
    }

    /// The Swift type of a field, and its getter and setter bodies.
    func accessor(_ f: Field, in decl: String) throws -> (type: String, get: String, set: String) {
        let k = "\"\(f.json)\""
        switch f.type {
        case "String": return ("String?", "json[\(k)]?.stringValue", "json.put(\(k), newValue.map { .string($0) })")
        case "Int": return ("Int64?", "json[\(k)]?.intValue", "json.put(\(k), newValue.map { .int($0) })")
        case "Bool": return ("Bool?", "json[\(k)]?.boolValue", "json.put(\(k), newValue.map { .bool($0) })")
        case "Double": return ("Double?", "json[\(k)]?.doubleValue", "json.put(\(k), newValue.map { .double($0) })")
        case "Time": return ("Date?", "json[\(k)]?.stringValue.flatMap(KubeTime.parse)", "json.put(\(k), newValue.map { .string(KubeTime.format($0)) })")
        case "MicroTime":
            return ("Date?", "json[\(k)]?.stringValue.flatMap(KubeTime.parse)", "json.put(\(k), newValue.map { .string(KubeTime.format($0, fractionDigits: 6)) })")
        case "Quantity": return ("String?", "json[\(k)]?.quantityText", "json.put(\(k), newValue.map { .string($0) })")
        case "JSON": return ("JSONValue?", "json[\(k)]", "json.put(\(k), newValue)")
        case "IntOrString": return ("IntOrString?", "json[\(k)].flatMap(IntOrString.init(json:))", "json.put(\(k), newValue?.json)")
        case "{String}": return ("[String: String]?", "json[\(k)]?.stringMap", "json.put(\(k), newValue.map(JSONValue.stringMap))")
        case "{Quantity}": return ("[String: String]?", "json[\(k)]?.quantityMap", "json.put(\(k), newValue.map(JSONValue.stringMap))")
        case "{Time}":
            return ("[String: Date]?", "json[\(k)]?.stringMap?.compactMapValues(KubeTime.parse)",
                    "json.put(\(k), newValue.map { JSONValue.stringMap($0.mapValues { KubeTime.format($0) }) })")
        case "[String]":
            return ("[String]?", "json[\(k)]?.arrayValue?.compactMap(\\.stringValue)", "json.put(\(k), newValue.map { .array($0.map { .string($0) }) })")
        case "[Int]":
            return ("[Int64]?", "json[\(k)]?.arrayValue?.compactMap(\\.intValue)", "json.put(\(k), newValue.map { .array($0.map { .int($0) }) })")
        case let t where t.hasPrefix("[") && t.hasSuffix("]") && isView(String(t.dropFirst().dropLast())):
            let e = String(t.dropFirst().dropLast())
            return ("[\(e)]", "(json[\(k)]?.arrayValue ?? []).map(\(e).init(json:))", "json.putArray(\(k), newValue.map(\\.json))")
        case let t where isView(t):
            return (t, "\(t)(json: json[\(k)] ?? .object(JSONObject()))", "json.putView(\(k), newValue.json)")
        case let t where isEnum(t):
            return ("\(t)?", "json[\(k)]?.stringValue.map(\(t).init(rawValue:))", "json.put(\(k), newValue.map { .string($0.rawValue) })")
        default:
            throw SchemaError(description: "\(decl).\(f.json): unknown type \(f.type)")
        }
    }

    /// The ProtoType source for a field ("(.int, false)" style: type expression and repeated).
    func protoType(_ f: Field, in decl: String) throws -> (String, Bool) {
        func message(_ t: String) throws -> String {
            guard let m = decls[t]?.proto else { throw SchemaError(description: "\(decl).\(f.json): \(t) has no proto= message name") }
            return ".message(\"\(m)\")"
        }
        switch f.type {
        case "String": return (".string", false)
        case "Int": return (".int", false)
        case "Bool": return (".bool", false)
        case "Double": return (".double", false)
        case "Time", "MicroTime": return (".time", false)
        case "Quantity": return (".quantity", false)
        case "IntOrString": return (".intOrString", false)
        case "JSON": return (".skip", false)
        case "{String}": return ("stringMap", false)
        case "{Quantity}": return ("quantityMap", false)
        case "{Time}": return (".map(.string, .time)", false)
        case "[String]": return (".string", true)
        case "[Int]": return (".int", true)
        case let t where t.hasPrefix("[") && t.hasSuffix("]"): return (try message(String(t.dropFirst().dropLast())), true)
        case let t where isEnum(t): return (".string", false)
        case let t: return (try message(t), false)
        }
    }

    /// The protobuf tables of the messages whose fields are numbered, and the kinds they decode.
    func protobufTables(_ ordered: [Decl]) throws -> String {
        var out = "// Generated by hack/codegen.sh from Sources/API/Schema: do not edit.\n\nextension ProtobufSchemas {\n"
        let numbered = ordered.filter { d in d.proto != nil && d.fields.contains { $0.number != nil } }
        out += "    /// \"apiVersion/Kind\" → message name.\n    static let generatedKinds: [String: String] = [\n"
        for d in numbered { if case .kind(let apiVersion) = d.shape { out += "        \"\(apiVersion)/\(d.name)\": \"\(d.proto!)\",\n" } }
        out += "    ]\n\n    static let generatedMessages: [String: [Int: ProtoField]] = [\n"
        for d in numbered {
            out += "        \"\(d.proto!)\": [\n"
            for f in d.fields.sorted(by: { ($0.number ?? 0) < ($1.number ?? 0) }) {
                guard let n = f.number else { continue }
                let (type, repeated) = try protoType(f, in: d.name)
                out += "            \(n): F(\"\(f.json)\", \(type)\(repeated ? ", repeated: true" : "")),\n"
            }
            out += "        ],\n"
        }
        return out + "    ]\n}\n"
    }

    func emit(_ d: Decl) throws -> String {
        var out = d.doc.map { "/// \($0)\n" }.joined()
        switch d.shape {
        case .enumeration(let values):
            out += "public enum \(d.name): Sendable, Hashable, CustomStringConvertible {\n"
            for v in values { out += "    case \(caseName(v))\n" }
            out += "    /// A value this version does not know, kept as written.\n    case other(String)\n\n"
            out += "    public init(rawValue: String) {\n        switch rawValue {\n"
            for v in values { out += "        case \"\(v)\": self = .\(caseName(v))\n" }
            out += "        default: self = .other(rawValue)\n        }\n    }\n\n"
            out += "    public var rawValue: String {\n        switch self {\n"
            for v in values { out += "        case .\(caseName(v)): return \"\(v)\"\n" }
            out += "        case .other(let raw): return raw\n        }\n    }\n\n"
            out += "    public var description: String { rawValue }\n}\n"
            return out
        case .kind(let apiVersion):
            out += "public struct \(d.name): KubernetesObject {\n"
            out += "    public static let apiVersion = \"\(apiVersion)\"\n    public static let kind = \"\(d.upstream)\"\n"
        case .object:
            out += "public struct \(d.name): JSONView {\n"
        }
        out += "    public var json: JSONValue\n    public init(json: JSONValue) { self.json = json }\n"
        for f in d.fields {
            let a = try accessor(f, in: d.name)
            out += "\n" + f.doc.map { "    /// \($0)\n" }.joined()
            out += "    public var \(f.swift): \(a.type) {\n        get { \(a.get) }\n        set { \(a.set) }\n    }\n"
        }
        return out + "}\n"
    }
}

let root = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : FileManager.default.currentDirectoryPath
let schemaDir = root + "/Sources/API/Schema", outDir = root + "/Sources/API/Generated"
do {
    let files = try FileManager.default.contentsOfDirectory(atPath: schemaDir).filter { $0.hasSuffix(".schema") }.sorted()
    var perFile: [(String, [Decl], header: String)] = []
    for f in files {
        let text = try String(contentsOfFile: schemaDir + "/" + f, encoding: .utf8)
        let header = text.split(separator: "\n").first.map { String($0.dropFirst(2)) } ?? ""
        perFile.append((f, try parse(text, file: f), header))
    }
    var all: [String: Decl] = [:]
    for (file, decls, _) in perFile {
        for d in decls {
            if all[d.name] != nil { throw SchemaError(description: "\(file): \(d.name) is declared twice") }
            all[d.name] = d
        }
    }
    let generator = Generator(decls: all)
    try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
    var written: Set<String> = ["ProtobufTables.swift", "OpenAPITable.swift"]
    try (try generator.protobufTables(perFile.flatMap(\.1))).write(toFile: outDir + "/ProtobufTables.swift", atomically: true, encoding: .utf8)
    let openAPI = try generator.openAPITables(perFile)
    try openAPI.joined.write(toFile: outDir + "/OpenAPITable.swift", atomically: true, encoding: .utf8)
    for (name, text) in openAPI.files {
        try text.write(toFile: outDir + "/" + name, atomically: true, encoding: .utf8)
        written.insert(name)
    }
    for (file, decls, _) in perFile {
        let name = Generator.fileBaseName(file) + "Views.swift"
        var text = "// Generated by hack/codegen.sh from Sources/API/Schema/\(file): do not edit.\nimport Foundation\n"
        for d in decls { text += "\n" + (try generator.emit(d)) }
        try text.write(toFile: outDir + "/" + name, atomically: true, encoding: .utf8)
        written.insert(name)
    }
    for stale in try FileManager.default.contentsOfDirectory(atPath: outDir) where !written.contains(stale) {
        try FileManager.default.removeItem(atPath: outDir + "/" + stale)
    }
    print("codegen: \(all.count) declarations from \(files.count) schema files")
} catch {
    FileHandle.standardError.write(Data("codegen: \(error)\n".utf8))
    exit(1)
}
