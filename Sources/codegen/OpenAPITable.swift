// The OpenAPI tables (Generated/<File>OpenAPI.swift, joined in OpenAPITable.swift): every kind and struct of the schema under its
// upstream component name (io.k8s.api.core.v1.PodSpec), with each field's type, description and
// annotations. API/OpenAPI turns it into the /openapi documents and reads its merge keys.
import Foundation

extension Generator {
    /// The group version a declaration belongs to: a kind's own; a struct's from its proto package
    /// (meta.ObjectMeta is meta/v1), else the nearest kind before it in its file, else the file's.
    func groupVersions(_ perFile: [(String, [Decl], header: String)]) -> [String: (group: String, version: String)] {
        func split(_ gv: String) -> (String, String) {
            let parts = gv.split(separator: "/").map(String.init)
            return parts.count == 2 ? (parts[0], parts[1]) : ("", parts[0])
        }
        var out: [String: (String, String)] = [:]
        for (_, decls, header) in perFile {
            let firstKind = decls.first { if case .kind = $0.shape { return true } else { return false } }
            var current: (String, String) = {
                if case .kind(let gv)? = firstKind?.shape { return split(gv) }
                // A file of structs only: the group version its first comment line starts with.
                let token = header.prefix { $0 != " " && $0 != ":" }
                guard token.contains("/") else { return ("", "v1") }
                let (group, version) = split(String(token))
                return (group == "core" ? "" : group, version)
            }()
            for d in decls {
                if case .kind(let gv) = d.shape { current = split(gv) }
                var gv = current
                if let package = d.proto?.split(separator: ".").first.map(String.init) {
                    let group = package == "core" ? "" : package
                    if group != gv.0.split(separator: ".").first.map(String.init) ?? "" { gv = (group, "v1") }
                }
                out[d.name] = gv
            }
        }
        return out
    }

    /// Upstream's component name: io.k8s.api.apps.v1.DaemonSet, io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta.
    static func componentName(group: String, version: String, name: String) -> String {
        let short = group.split(separator: ".").first.map(String.init) ?? "core"
        let prefix = switch short {
        case "": "io.k8s.api.core"
        case "meta": "io.k8s.apimachinery.pkg.apis.meta"
        case "apiregistration": "io.k8s.kube-aggregator.pkg.apis.apiregistration"
        case "metrics": "io.k8s.metrics.pkg.apis.metrics"
        case "apiextensions": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"
        default: "io.k8s.api.\(short)"
        }
        return "\(prefix).\(version).\(name)"
    }

    func literal(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// The OpenAPIType expression of a schema type.
    func openAPIType(_ t: String, names: [String: String], in decl: String) throws -> String {
        switch t {
        case "String": return ".string"
        case "Int": return ".integer"
        case "Bool": return ".boolean"
        case "Double": return ".number"
        case "Time": return ".time"
        case "MicroTime": return ".ref(\"io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime\")"
        case "Quantity": return ".quantity"
        case "JSON": return ".any"
        case "IntOrString": return ".intOrString"
        case "{String}": return ".map(.string)"
        case "{Quantity}": return ".map(.quantity)"
        case "{Time}": return ".map(.time)"
        case let t where t.hasPrefix("[") && t.hasSuffix("]"):
            return ".array(\(try openAPIType(String(t.dropFirst().dropLast()), names: names, in: decl)))"
        case let t where isEnum(t):
            guard case .enumeration(let values)? = decls[t]?.shape else { break }
            return ".enumeration([\(values.map(literal).joined(separator: ", "))])"
        case let t where names[t] != nil:
            return ".ref(\(literal(names[t]!)))"
        default: break
        }
        throw SchemaError(description: "\(decl): no OpenAPI type for \(t)")
    }

    /// One table per schema file (Generated/<File>OpenAPI.swift), so each stays the size of its
    /// schema (one literal of every definition exhausts the type checker's memory), and
    /// OpenAPITable.swift joining them in file order.
    func openAPITables(_ perFile: [(String, [Decl], header: String)]) throws -> (files: [(name: String, text: String)], joined: String) {
        let gvs = groupVersions(perFile)
        var names: [String: String] = [:]
        for (_, decls, _) in perFile {
            for d in decls where isView(d.name) {
                let upstream = d.proto?.split(separator: ".").last.map(String.init) ?? d.upstream
                names[d.name] = Generator.componentName(group: gvs[d.name]!.group, version: gvs[d.name]!.version, name: upstream)
            }
        }
        var files: [(name: String, text: String)] = []
        var members: [String] = []
        for (file, decls, _) in perFile where decls.contains(where: { isView($0.name) }) {
            let base = Generator.fileBaseName(file)
            let member = base.prefix(1).lowercased() + base.dropFirst() + "Definitions"
            members.append(member)
            var out = "// Generated by hack/codegen.sh from Sources/API/Schema/\(file): do not edit.\n\nextension OpenAPIDefinitions {\n"
            out += "    static let \(member): [OpenAPIDefinition] = [\n"
            for d in decls where isView(d.name) {
                out += try definition(d, gvk: gvs[d.name], names: names)
            }
            files.append((base + "OpenAPI.swift", out + "    ]\n}\n"))
        }
        var joined = "// Generated by hack/codegen.sh from Sources/API/Schema: do not edit.\n\nextension OpenAPIDefinitions {\n"
        joined += "    /// Every schema file's definitions, in file order.\n"
        joined += "    static let generated: [OpenAPIDefinition] = [\n"
        joined += members.map { "        \($0)," }.joined(separator: "\n")
        return (files, joined + "\n    ].flatMap { $0 }\n}\n")
    }

    private func definition(_ d: Decl, gvk gv: (group: String, version: String)?, names: [String: String]) throws -> String {
        var gvk = "nil"
        if case .kind = d.shape, let gv {
            gvk = "GroupVersionKind(group: \(literal(gv.group)), version: \(literal(gv.version)), kind: \(literal(d.upstream)))"
        }
        var out = "        OpenAPIDefinition(\(literal(names[d.name]!)), gvk: \(gvk), description: \(literal(d.doc.joined(separator: " "))), fields: [\n"
        for f in d.fields {
            var doc = f.doc
            if doc.isEmpty, let enumDecl = declaration(of: f.type), isEnum(enumDecl.name) { doc = enumDecl.doc }
            // `@enum A B` is the type OpenAPI documents (a closed set), not an annotation.
            let annotations = f.annotations.filter { $0.key != "enum" }.sorted { $0.key < $1.key }.map { "\(literal($0.key)): \(literal($0.value))" }
            var type = try openAPIType(f.type, names: names, in: d.name)
            if let values = f.annotations["enum"] {
                guard f.type == "String" || f.type == "[String]" else { throw SchemaError(description: "\(d.name).\(f.json): @enum is for String fields") }
                let set = ".enumeration([\(values.split(separator: " ").map { literal($0 == "\"\"" ? "" : String($0)) }.joined(separator: ", "))])"
                type = f.type == "String" ? set : ".array(\(set))"
            }
            out += "            OpenAPIField(\(literal(f.json)), \(type), \(literal(doc.joined(separator: " "))), "
            out += "annotations: [\(annotations.isEmpty ? ":" : annotations.joined(separator: ", "))]),\n"
        }
        return out + "        ]),\n"
    }

    /// batch.schema -> Batch, storage-classes.schema -> StorageClasses: the prefix of a file's generated names.
    static func fileBaseName(_ file: String) -> String {
        String(file.dropLast(".schema".count)).capitalized.replacingOccurrences(of: "-", with: "")
    }

    private func declaration(of type: String) -> Decl? {
        decls[type.trimmingCharacters(in: CharacterSet(charactersIn: "[]{}"))]
    }
}
