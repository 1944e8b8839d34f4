// `skiffctl apply`, `create` and `delete`.
import API
import ArgumentParser
import Client
import Foundation

let lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

/// `-f FILE|DIR|-` (repeatable), shared by apply, create and delete.
struct ManifestFiles: ParsableArguments {
    @Option(name: [.customShort("f"), .customLong("filename")], help: "File, directory or - for stdin (repeatable).")
    var files: [String] = []

    func manifests() throws -> [Manifest] {
        guard !files.isEmpty else { throw ClientError("must specify one of -f and -k") }
        return try Manifests.load(files)
    }
}

/// A manifest's resource type and namespace (its own, else the session's).
func placement(_ m: Manifest, _ s: Session) throws -> (ResourceType, String?, String) {
    let o = m.object
    guard let apiVersion = o["apiVersion"]?.stringValue, let kind = o["kind"]?.stringValue else {
        throw ClientError("error validating \"\(m.source)\": apiVersion and kind must be set")
    }
    let type = try ResourceResolver.resolve(apiVersion: apiVersion, kind: kind)
    guard let name = o["metadata"]?["name"]?.stringValue, !name.isEmpty else {
        throw ClientError("error validating \"\(m.source)\": metadata.name must be set")
    }
    let ns = type.namespaced ? (o["metadata"]?["namespace"]?.stringValue ?? s.namespace) : nil
    return (type, ns, name)
}

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "Create or update resources from files (client-side apply).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var input: ManifestFiles

    func run() throws {
        let s = try connection.session()
        for m in try input.manifests() {
            let (type, ns, name) = try placement(m, s)
            var desired = m.object
            desired["metadata"]?["namespace"] = ns.map { .string($0) }
            // The applied configuration, recorded for the next apply's three-way diff.
            var recorded = desired
            recorded["metadata"]?["annotations"]?[lastAppliedAnnotation] = nil
            if recorded["metadata"]?["annotations"]?.objectValue?.isEmpty == true { recorded["metadata"]?["annotations"] = nil }
            if desired["metadata"]?["annotations"] == nil { desired["metadata"]?["annotations"] = .object(JSONObject()) }
            desired["metadata"]?["annotations"]?[lastAppliedAnnotation] = .string(recorded.jsonString + "\n")

            let current = try s.client.get(ResourceResolver.path(type, namespace: ns, name: name))
            if current.code == 404 {
                _ = try s.send("POST", ResourceResolver.path(type, namespace: ns), desired)
                print(ResourceResolver.displayName(type, name) + " created")
                continue
            }
            let live = try s.checked(current).json()
            let previous = live["metadata"]?["annotations"]?[lastAppliedAnnotation]?.stringValue.flatMap { try? JSONValue.parse($0) }
                ?? .object(JSONObject())
            let patch = ApplyDiff.mergePatch(from: previous, to: desired, live: live)
            if patch.objectValue?.isEmpty ?? true {
                print(ResourceResolver.displayName(type, name) + " unchanged")
                continue
            }
            let updated = try s.send("PATCH", ResourceResolver.path(type, namespace: ns, name: name), patch,
                                     contentType: "application/merge-patch+json")
            let changed = updated["metadata"]?["resourceVersion"] != live["metadata"]?["resourceVersion"]
            print(ResourceResolver.displayName(type, name) + (changed ? " configured" : " unchanged"))
        }
    }
}

enum ApplyDiff {
    /// A JSON merge patch taking `live` to `desired`: fields the last apply set but this one
    /// doesn't are removed (null); fields that differ from the live object are set. Lists are
    /// replaced whole (merge patch semantics).
    static func mergePatch(from previous: JSONValue, to desired: JSONValue, live: JSONValue) -> JSONValue {
        var patch = JSONObject()
        let d = desired.objectValue ?? JSONObject()
        for (k, v) in d {
            let l = live[k]
            if case .object = v, case .object? = l {
                let sub = mergePatch(from: previous[k] ?? .object(JSONObject()), to: v, live: l!)
                if !(sub.objectValue?.isEmpty ?? true) { patch[k] = sub }
            } else if l != v {
                patch[k] = v
            }
        }
        for (k, _) in previous.objectValue ?? JSONObject() where d[k] == nil && live[k] != nil {
            patch[k] = .null
        }
        return .object(patch)
    }
}

struct CreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create resources from files.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var input: ManifestFiles

    func run() throws {
        let s = try connection.session()
        for m in try input.manifests() {
            let (type, ns, name) = try placement(m, s)
            var o = m.object
            if let ns { o["metadata"]?["namespace"] = .string(ns) }
            _ = try s.send("POST", ResourceResolver.path(type, namespace: ns), o)
            print(ResourceResolver.displayName(type, name) + " created")
        }
    }
}

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete resources by file, name or label selector.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var input: ManifestFiles
    @Option(name: [.customShort("l"), .customLong("selector")], help: "Label selector.")
    var selector: String?
    @Flag(name: .customLong("all"), help: "Delete every resource of the type in the namespace.")
    var all = false
    @Option(name: .customLong("grace-period"), help: "Seconds given to the resource to terminate (0: immediately).")
    var gracePeriod: Int?
    @Option(name: .customLong("wait"), help: "Wait until the resources are gone (true/false).")
    var wait: Bool = true
    @Option(name: .customLong("timeout"), help: "How long to wait, in seconds.")
    var timeout: Double = 60
    @Flag(name: .customLong("ignore-not-found"), help: "Treat a missing resource as deleted.")
    var ignoreNotFound = false
    @Argument(help: "TYPE NAME... or TYPE/NAME ... or TYPE with -l/--all")
    var args: [String] = []

    func run() throws {
        let s = try connection.session()
        var targets: [(ResourceType, String?, String)] = []
        if !input.files.isEmpty {
            for m in try input.manifests() { targets.append(try placement(m, s)) }
            // Namespaces last: deleting one first would take the rest of the file with it.
            targets = targets.filter { $0.0.kind != "Namespace" } + targets.filter { $0.0.kind == "Namespace" }
        } else if selector != nil || all {
            guard let first = args.first else { throw ClientError("you must specify the type of resource to delete") }
            let type = try ResourceResolver.resolve(first)
            var path = ResourceResolver.path(type, namespace: type.namespaced ? s.listNamespace : nil)
            if let selector { path += "?labelSelector=" + queryEscape(selector) }
            for o in try s.checked(s.client.get(path)).json()["items"]?.arrayValue ?? [] {
                targets.append((type, o["metadata"]?["namespace"]?.stringValue, o["metadata"]?["name"]?.stringValue ?? ""))
            }
            if targets.isEmpty { print("No resources found"); return }
        } else {
            targets = try s.targets(args).map { ($0.0, $0.0.namespaced ? s.namespace : nil, $0.1) }
        }
        var body: JSONValue = ["kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"]
        if let gracePeriod { body["gracePeriodSeconds"] = .int(Int64(gracePeriod)) }
        var pending: [(ResourceType, String?, String, String)] = []
        var failures: [String] = []
        for (type, ns, name) in targets {
            let r = try s.client.request("DELETE", ResourceResolver.path(type, namespace: ns, name: name), body: body.serialized())
            if r.code == 404 && ignoreNotFound { continue }
            guard (200..<300).contains(r.code) else { failures.append(ServerError(response: r).description); continue }
            let uid = (try? r.json())?["metadata"]?["uid"]?.stringValue ?? ""
            print("\(type.singular)\(type.group.isEmpty ? "" : "." + type.group) \"\(name)\" deleted")
            pending.append((type, ns, name, uid))
        }
        if wait {
            let deadline = Date().addingTimeInterval(timeout)
            for (type, ns, name, uid) in pending {
                while true {
                    let r = try s.client.get(ResourceResolver.path(type, namespace: ns, name: name))
                    if r.code == 404 { break }
                    if let o = try? r.json(), o["metadata"]?["uid"]?.stringValue != uid { break }   // recreated: ours is gone
                    if Date() > deadline { throw ClientError("timed out waiting for the deletion of \(ResourceResolver.displayName(type, name))") }
                    Thread.sleep(forTimeInterval: 0.1)
                }
            }
        }
        if !failures.isEmpty { throw ClientError(failures.joined(separator: "; ")) }
    }
}
