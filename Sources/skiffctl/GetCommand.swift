// `skiffctl get` (server-side tables, -o wide|yaml|json|name, -l, --field-selector, -w) and
// `skiffctl describe`.
import API
import ArgumentParser
import Client
import Foundation
import YAML

let tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Display one or many resources.")

    @OptionGroup var connection: ConnectionOptions
    @Option(name: [.customShort("o"), .customLong("output")], help: "wide, yaml, json or name.")
    var output: String?
    @Option(name: [.customShort("l"), .customLong("selector")], help: "Label selector (e.g. app=web,tier!=db).")
    var selector: String?
    @Option(name: .customLong("field-selector"), help: "Field selector (e.g. spec.nodeName=node-1).")
    var fieldSelector: String?
    @Flag(name: [.customShort("w"), .customLong("watch")], help: "After listing, watch for changes.")
    var watch = false
    @Argument(help: "TYPE[,TYPE...] [NAME...] or TYPE/NAME ...")
    var args: [String] = []

    func validate() throws {
        if let output, !["wide", "yaml", "json", "name"].contains(output) {
            throw ValidationError("unable to match a printer suitable for the output format \"\(output)\", allowed formats are: json,name,wide,yaml")
        }
        if args.isEmpty { throw ValidationError("you must specify the type of resource to get") }
    }

    func run() throws {
        let s = try connection.session()
        // Group requests: (type, names) in order.
        var requests: [(ResourceType, [String])] = []
        if args[0].contains("/") {
            for (t, n) in try s.targets(args) {
                if let i = requests.firstIndex(where: { $0.0 == t }) { requests[i].1.append(n) } else { requests.append((t, [n])) }
            }
        } else {
            var types: [ResourceType] = []
            for word in args[0].split(separator: ",").map(String.init) {
                // "all" is the category: the workload and service types.
                if word == "all" { types += ResourceRegistry.all.filter(\.inAllCategory) } else { types.append(try ResourceResolver.resolve(word)) }
            }
            requests = types.map { ($0, Array(args.dropFirst())) }
        }
        let prefixNames = requests.count > 1 || args[0].contains("/") || args[0] == "all"
        var query: [String] = []
        if let selector { query.append("labelSelector=" + queryEscape(selector)) }
        if let fieldSelector { query.append("fieldSelector=" + queryEscape(fieldSelector)) }

        var objects: [(ResourceType, JSONValue)] = []
        var tables: [(ResourceType, JSONValue)] = []
        let wantTable = output == nil || output == "wide"
        for (type, names) in requests {
            let ns = type.namespaced ? (names.isEmpty ? s.listNamespace : s.namespace) : nil
            if names.isEmpty {
                let path = ResourceResolver.path(type, namespace: ns) + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
                let r = try s.checked(s.client.get(path, accept: wantTable ? tableAccept : "application/json")).json()
                if wantTable { tables.append((type, r)) } else { objects += (r["items"]?.arrayValue ?? []).map { (type, $0) } }
            } else {
                for name in names {
                    let path = ResourceResolver.path(type, namespace: ns, name: name)
                    let r = try s.checked(s.client.get(path, accept: wantTable ? tableAccept : "application/json")).json()
                    if wantTable { tables.append((type, r)) } else { objects.append((type, r)) }
                }
            }
        }

        switch output {
        case "json", "yaml":
            var value: JSONValue
            if objects.count == 1 && !(requests.first?.1.isEmpty ?? true) {
                value = objects[0].1
            } else {
                value = ["apiVersion": "v1", "kind": "List", "items": .array(objects.map(\.1)), "metadata": ["resourceVersion": ""]]
            }
            if output == "json" { print(prettyJSON(value)) } else { print(YAMLDocuments.yaml(value), terminator: "") }
        case "name":
            for (t, o) in objects { print(ResourceResolver.displayName(t, o["metadata"]?["name"]?.stringValue ?? "")) }
        default:
            let wide = output == "wide"
            var printedAny = false
            for (i, (type, table)) in tables.enumerated() {
                let rows = table["rows"]?.arrayValue ?? []
                if rows.isEmpty { continue }
                if printedAny { print("") }
                printedAny = true
                printTable(tableRows(table, type: type, wide: wide, prefixNames: prefixNames, withHeader: true))
                _ = i
            }
            if !printedAny && !watch {
                let ns = s.listNamespace
                let message = ns.map { "No resources found in \($0) namespace." } ?? "No resources found"
                FileHandle.standardError.write(Data((message + "\n").utf8))
            }
            if watch, let (type, table) = tables.first {
                try watchTable(s, type: type, from: table, query: query, wide: wide, printedHeader: printedAny)
            }
        }
    }

    /// Header and rows; NAMESPACE first across namespaces; priority-1 columns only when wide.
    func tableRows(_ table: JSONValue, type: ResourceType, wide: Bool, prefixNames: Bool, withHeader: Bool,
                   columns: [JSONValue]? = nil) -> [[String]] {
        let cols = columns ?? table["columnDefinitions"]?.arrayValue ?? []
        let keep = cols.indices.filter { wide || (cols[$0]["priority"]?.intValue ?? 0) == 0 }
        let allNS = connection.allNamespaces && type.namespaced
        var out: [[String]] = []
        if withHeader {
            out.append((allNS ? ["NAMESPACE"] : []) + keep.map { (cols[$0]["name"]?.stringValue ?? "").uppercased() })
        }
        for row in table["rows"]?.arrayValue ?? [] {
            let cells = row["cells"]?.arrayValue ?? []
            var line: [String] = allNS ? [row["object"]?["metadata"]?["namespace"]?.stringValue ?? ""] : []
            for i in keep {
                var text = i < cells.count ? cellText(cells[i]) : ""
                if i == 0 && prefixNames { text = ResourceResolver.displayName(type, text) }
                line.append(text)
            }
            out.append(line)
        }
        return out
    }

    func watchTable(_ s: Session, type: ResourceType, from table: JSONValue, query: [String], wide: Bool, printedHeader: Bool) throws {
        let rv = table["metadata"]?["resourceVersion"]?.stringValue ?? ""
        let ns = type.namespaced ? s.listNamespace : nil
        var q = query + ["watch=true", "resourceVersion=" + rv]
        if let name = args.count > 1 ? args[1] : nil { q.append("fieldSelector=" + queryEscape("metadata.name=" + name)) }
        let stream = try s.client.watch(ResourceResolver.path(type, namespace: ns) + "?" + q.joined(separator: "&"), accept: tableAccept)
        var columns = table["columnDefinitions"]?.arrayValue ?? []
        var headerDone = printedHeader
        while let event = try stream.next() {
            guard let obj = event["object"] else { continue }
            if event["type"]?.stringValue == "ERROR" { throw ClientError(obj["message"]?.stringValue ?? "watch failed") }
            if let c = obj["columnDefinitions"]?.arrayValue, !c.isEmpty { columns = c }
            printTable(tableRows(obj, type: type, wide: wide, prefixNames: false, withHeader: !headerDone, columns: columns))
            headerDone = true
            fflush(nil)
        }
    }
}

func prettyJSON(_ v: JSONValue, indent: String = "") -> String {
    let inner = indent + "    "
    switch v {
    case .object(let o):
        if o.isEmpty { return "{}" }
        let body = o.map { inner + JSONValue.string($0.key).jsonString + ": " + prettyJSON($0.value, indent: inner) }
        return "{\n" + body.joined(separator: ",\n") + "\n" + indent + "}"
    case .array(let a):
        if a.isEmpty { return "[]" }
        return "[\n" + a.map { inner + prettyJSON($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
    default:
        return v.jsonString
    }
}

struct DescribeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "describe", abstract: "Show details of a resource, with its events.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "TYPE NAME or TYPE/NAME")
    var args: [String] = []

    func run() throws {
        let s = try connection.session()
        for (i, (type, name)) in try s.targets(args).enumerated() {
            if i > 0 { print("\n") }
            let o = try s.get(type, name)
            let meta = o["metadata"] ?? .null
            var lines: [(String, String)] = [("Name", name)]
            if type.namespaced { lines.append(("Namespace", meta["namespace"]?.stringValue ?? "")) }
            func mapText(_ v: JSONValue?) -> String {
                let m = v?.stringMap ?? [:]
                return m.isEmpty ? "<none>" : m.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n              ")
            }
            lines.append(("Labels", mapText(meta["labels"])))
            var annotations = meta["annotations"]
            annotations?["kubectl.kubernetes.io/last-applied-configuration"] = nil
            lines.append(("Annotations", mapText(annotations)))
            lines.append(("CreationTimestamp", meta["creationTimestamp"]?.stringValue ?? ""))
            if let d = meta["deletionTimestamp"]?.stringValue { lines.append(("DeletionTimestamp", d)) }
            for (k, v) in lines { print((k + ":").padding(toLength: max(14, k.count + 2), withPad: " ", startingAt: 0) + v) }
            for section in ["spec", "status", "data", "subsets"] {
                guard let v = o[section], !v.isNull else { continue }
                print(section.prefix(1).uppercased() + section.dropFirst() + ":")
                for line in YAMLDocuments.yaml(v).split(separator: "\n") { print("  " + line) }
            }
            let eventType = ResourceRegistry.lookup(groupVersion: "v1", plural: "events")!
            var selector = "involvedObject.name=\(name),involvedObject.kind=\(type.kind)"
            if type.namespaced { selector += ",involvedObject.namespace=\(meta["namespace"]?.stringValue ?? s.namespace)" }
            let events = try s.checked(s.client.get(ResourceResolver.path(eventType, namespace: type.namespaced ? (meta["namespace"]?.stringValue ?? s.namespace) : nil)
                                                    + "?fieldSelector=" + queryEscape(selector))).json()
            let items = events["items"]?.arrayValue ?? []
            if items.isEmpty {
                print("Events:       <none>")
            } else {
                print("Events:")
                var rows = [["  TYPE", "REASON", "AGE", "FROM", "MESSAGE"]]
                for e in items {
                    rows.append(["  " + (e["type"]?.stringValue ?? ""), e["reason"]?.stringValue ?? "",
                                 e["lastTimestamp"]?.stringValue ?? e["eventTime"]?.stringValue ?? "",
                                 e["source"]?["component"]?.stringValue ?? e["reportingComponent"]?.stringValue ?? "",
                                 e["message"]?.stringValue ?? ""])
                }
                printTable(rows)
            }
        }
    }
}
