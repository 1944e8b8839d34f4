// `skiffctl label`, `annotate`, `scale`, `logs`, `exec`, `wait` and `rollout status`.
import API
import ArgumentParser
import Client
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// label and annotate: `TYPE NAME key=value key-` as a merge patch on metadata.<field>.
func setMetadataMap(_ field: String, verb: String, connection: ConnectionOptions, args: [String], overwrite: Bool) throws {
    let s = try connection.session()
    let changes = args.filter { $0.contains("=") || $0.hasSuffix("-") }
    let objectArgs = args.filter { !($0.contains("=") || ($0.hasSuffix("-") && !$0.contains("/"))) }
    guard !changes.isEmpty else { throw ClientError("at least one \(field.dropLast()) update is required") }
    for (type, name) in try s.targets(objectArgs) {
        let current = try s.get(type, name)
        var map = JSONObject()
        for change in changes {
            if change.hasSuffix("-") && !change.contains("=") {
                map[String(change.dropLast())] = .null
                continue
            }
            let kv = change.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            if !overwrite, let existing = current["metadata"]?[field]?[kv[0]]?.stringValue, existing != kv[1] {
                throw ClientError("'\(kv[0])' already has a value (\(existing)), and --overwrite is false")
            }
            map[kv[0]] = .string(kv[1])
        }
        let patch: JSONValue = ["metadata": [field: .object(map)]]
        _ = try s.send("PATCH", ResourceResolver.path(type, namespace: s.namespace, name: name), patch,
                       contentType: "application/merge-patch+json")
        print(ResourceResolver.displayName(type, name) + " " + verb)
    }
}

struct LabelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "label", abstract: "Update the labels on a resource (key=value, key- removes).")
    @OptionGroup var connection: ConnectionOptions
    @Flag(name: .customLong("overwrite"), help: "Allow changing existing labels.")
    var overwrite = false
    @Argument var args: [String] = []
    func run() throws { try setMetadataMap("labels", verb: "labeled", connection: connection, args: args, overwrite: overwrite) }
}

struct AnnotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "annotate", abstract: "Update the annotations on a resource.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(name: .customLong("overwrite"), help: "Allow changing existing annotations.")
    var overwrite = false
    @Argument var args: [String] = []
    func run() throws { try setMetadataMap("annotations", verb: "annotated", connection: connection, args: args, overwrite: overwrite) }
}

struct ScaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scale", abstract: "Set a new size for a Deployment, ReplicaSet or ReplicationController.")
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("replicas"), help: "The new number of replicas.")
    var replicas: Int
    @Argument var args: [String] = []

    func run() throws {
        guard replicas >= 0 else { throw ClientError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0") }
        let s = try connection.session()
        for (type, name) in try s.targets(args) {
            guard type.subresources["scale"] != nil else { throw ClientError("cannot scale \(type.plural)") }
            _ = try s.send("PATCH", ResourceResolver.path(type, namespace: s.namespace, name: name, subresource: "scale"),
                           ["spec": ["replicas": .int(Int64(replicas))]], contentType: "application/merge-patch+json")
            print(ResourceResolver.displayName(type, name) + " scaled")
        }
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print the logs of a container in a pod.")
    @OptionGroup var connection: ConnectionOptions
    @Option(name: [.customShort("c"), .customLong("container")], help: "Container name.")
    var container: String?
    @Flag(name: [.customShort("f"), .customLong("follow")], help: "Stream new lines.")
    var follow = false
    @Option(name: .customLong("tail"), help: "Lines from the end to show.")
    var tail: Int?
    @Argument(help: "POD or pod/NAME")
    var pod: String

    func run() throws {
        let s = try connection.session()
        let name = pod.hasPrefix("pod/") ? String(pod.dropFirst(4)) : (pod.hasPrefix("pods/") ? String(pod.dropFirst(5)) : pod)
        let podType = try ResourceResolver.resolve("pods")
        var q: [String] = []
        if let container { q.append("container=" + queryEscape(container)) }
        if follow { q.append("follow=true") }
        if let tail { q.append("tailLines=\(tail)") }
        let path = ResourceResolver.path(podType, namespace: s.namespace, name: name, subresource: "log") + (q.isEmpty ? "" : "?" + q.joined(separator: "&"))
        try s.client.stream(path) { chunk in FileHandle.standardOutput.write(Data(chunk)) }
    }
}

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", abstract: "Run a command in a container.")
    @OptionGroup var connection: ConnectionOptions
    @Option(name: [.customShort("c"), .customLong("container")], help: "Container name.")
    var container: String?
    @Flag(name: [.customShort("i"), .customLong("stdin")], help: "Pass stdin to the command.")
    var stdin = false
    @Argument(help: "POD -- COMMAND [ARGS...]")
    var args: [String] = []

    func run() throws {
        guard args.count >= 2 else { throw ClientError("you must specify at least one command for the container") }
        let s = try connection.session()
        let podType = try ResourceResolver.resolve("pods")
        let name = args[0].hasPrefix("pod/") ? String(args[0].dropFirst(4)) : args[0]
        var q = args.dropFirst().map { "command=" + queryEscape($0) } + ["stdout=true", "stderr=true"]
        if stdin { q.append("stdin=true") }
        if let container { q.append("container=" + queryEscape(container)) }
        let path = ResourceResolver.path(podType, namespace: s.namespace, name: name, subresource: "exec") + "?" + q.joined(separator: "&")
        let code = try s.client.remoteCommand(path, stdin: stdin ? 0 : nil,
                                              stdout: { FileHandle.standardOutput.write(Data($0)) },
                                              stderr: { FileHandle.standardError.write(Data($0)) })
        if code != 0 { throw ExitCode(code) }
    }
}

/// Durations like 30s, 2m, 1h (kubectl's --timeout).
func parseSeconds(_ text: String) throws -> Double {
    for (suffix, scale) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)] where text.hasSuffix(suffix) {
        if let v = Double(text.dropLast(suffix.count)) { return v * scale }
    }
    if let v = Double(text) { return v }
    throw ClientError("invalid duration \"\(text)\": use e.g. 30s, 2m")
}

struct WaitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wait", abstract: "Wait for a condition on resources (--for=condition=Ready, --for=delete).")
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("for"), help: "condition=NAME[=value], or delete.")
    var condition: String
    @Option(name: .customLong("timeout"), help: "Give up after this long (e.g. 30s).")
    var timeout: String = "30s"
    @Argument var args: [String] = []

    func run() throws {
        let s = try connection.session()
        let deadline = Date().addingTimeInterval(try parseSeconds(timeout))
        for (type, name) in try s.targets(args) {
            let display = ResourceResolver.displayName(type, name)
            while true {
                let r = try s.client.get(ResourceResolver.path(type, namespace: s.namespace, name: name))
                if condition == "delete" {
                    if r.code == 404 { print(display + " condition met"); break }
                } else if condition.hasPrefix("condition=") {
                    let spec = condition.dropFirst("condition=".count).split(separator: "=", maxSplits: 1).map(String.init)
                    let want = spec.count > 1 ? spec[1].lowercased() : "true"
                    let o = try s.checked(r).json()
                    let conditions = o["status"]?["conditions"]?.arrayValue ?? []
                    if conditions.contains(where: { $0["type"]?.stringValue?.lowercased() == spec[0].lowercased()
                        && $0["status"]?.stringValue?.lowercased() == want }) {
                        print(display + " condition met")
                        break
                    }
                } else {
                    throw ClientError("unrecognized condition: \"\(condition)\"")
                }
                if Date() > deadline { throw ClientError("timed out waiting for the condition on \(type.plural)/\(name)") }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }
}

struct RolloutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rollout", abstract: "Manage rollouts.", subcommands: [RolloutStatus.self])
}

struct RolloutStatus: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Wait until a Deployment's rollout is complete.")
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("timeout"), help: "Give up after this long (e.g. 2m); 0 waits forever.")
    var timeout: String = "0s"
    @Argument var args: [String] = []

    func run() throws {
        let s = try connection.session()
        let limit = try parseSeconds(timeout)
        let deadline = limit > 0 ? Date().addingTimeInterval(limit) : Date.distantFuture
        for (type, name) in try s.targets(args) {
            guard type.kind == "Deployment" else { throw ClientError("no status viewer has been implemented for \(type.kind)") }
            var lastMessage = ""
            while true {
                let d = try s.get(type, name)
                let spec = d["spec"] ?? .null, status = d["status"] ?? .null
                let want = spec["replicas"]?.intValue ?? 1
                let updated = status["updatedReplicas"]?.intValue ?? 0
                let available = status["availableReplicas"]?.intValue ?? 0
                let total = status["replicas"]?.intValue ?? 0
                let observed = status["observedGeneration"]?.intValue ?? 0
                let generation = d["metadata"]?["generation"]?.intValue ?? 0
                var message = ""
                if observed < generation {
                    message = "Waiting for deployment spec update to be observed..."
                } else if updated < want {
                    message = "Waiting for deployment \"\(name)\" rollout to finish: \(updated) out of \(want) new replicas have been updated..."
                } else if total > updated {
                    message = "Waiting for deployment \"\(name)\" rollout to finish: \(total - updated) old replicas are pending termination..."
                } else if available < updated {
                    message = "Waiting for deployment \"\(name)\" rollout to finish: \(available) of \(updated) updated replicas are available..."
                } else {
                    print("deployment \"\(name)\" successfully rolled out")
                    break
                }
                if message != lastMessage { print(message); fflush(nil); lastMessage = message }
                if Date() > deadline { throw ClientError("timed out waiting for the condition") }
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }
}
