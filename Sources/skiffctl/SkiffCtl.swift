// skiffctl: a kubectl-style CLI for Skiff. Flag parsing and printing; the HTTP, kubeconfig and
// manifest work is in the Client target.
import API
import ArgumentParser
import Client
import Foundation
#if canImport(Glibc)
import Glibc
#endif

@main
struct SkiffCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiffctl",
        abstract: "Control a Skiff cluster (kubectl-style).",
        subcommands: [ApplyCommand.self, CreateCommand.self, GetCommand.self, DescribeCommand.self, DeleteCommand.self,
                      LabelCommand.self, AnnotateCommand.self, ScaleCommand.self, LogsCommand.self, ExecCommand.self,
                      WaitCommand.self, RolloutCommand.self])

    /// One line on stderr for any error, as kubectl does.
    static func main() {
        // Ctrl-C and SIGTERM end us even if our parent spawned us with them blocked.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &signals, nil)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let e as ClientError {
            fail("error: " + e.description)
        } catch let e as ServerError {
            fail(e.description)
        } catch let e as ExitCode {
            Glibc.exit(e.rawValue)
        } catch {
            exit(withError: error)
        }
    }

    static func fail(_ message: String) -> Never {
        let line = message.split(separator: "\n", omittingEmptySubsequences: true).joined(separator: "; ") + "\n"
        FileHandle.standardError.write(Data(line.utf8))
        Glibc.exit(1)
    }
}

/// An error answer from the API server, printed as kubectl does.
struct ServerError: Error, CustomStringConvertible {
    let response: APIResponse
    var description: String {
        let reason = (try? response.json())?["reason"]?.stringValue ?? ""
        return "Error from server" + (reason.isEmpty ? "" : " (\(reason))") + ": " + response.errorMessage
    }
}

struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("server"), help: "API server URL (default: the kubeconfig's, else http://127.0.0.1:6443).")
    var server: String?

    @Option(name: .customLong("kubeconfig"), help: "Path to a kubeconfig file.")
    var kubeconfig: String?

    @Option(name: [.customShort("n"), .customLong("namespace")], help: "Namespace.")
    var namespace: String?

    @Flag(name: [.customShort("A"), .customLong("all-namespaces")], help: "Across all namespaces.")
    var allNamespaces = false

    func session() throws -> Session {
        let target = try ClusterTarget.resolve(server: server, kubeconfig: kubeconfig, namespace: namespace)
        return Session(client: try APIClient(server: target.server), namespace: target.namespace, allNamespaces: allNamespaces)
    }
}

/// The connection and namespace a command works in, with the calls every command makes.
struct Session {
    let client: APIClient
    let namespace: String
    let allNamespaces: Bool

    /// Namespace for a list: nil across all namespaces.
    var listNamespace: String? { allNamespaces ? nil : namespace }

    func checked(_ r: APIResponse) throws -> APIResponse {
        guard (200..<300).contains(r.code) else { throw ServerError(response: r) }
        return r
    }

    func get(_ type: ResourceType, _ name: String, namespace ns: String? = nil) throws -> JSONValue {
        try checked(client.get(ResourceResolver.path(type, namespace: ns ?? namespace, name: name))).json()
    }

    func send(_ method: String, _ path: String, _ body: JSONValue, contentType: String = "application/json") throws -> JSONValue {
        try checked(client.request(method, path, body: body.serialized(), contentType: contentType)).json()
    }

    /// "TYPE NAME..." or "TYPE/NAME ..." arguments as (type, name) pairs.
    func targets(_ args: [String]) throws -> [(ResourceType, String)] {
        guard let first = args.first else { throw ClientError("you must specify the type of resource and a name") }
        if first.contains("/") {
            return try args.map { arg in
                let parts = arg.split(separator: "/", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ClientError("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form") }
                return (try ResourceResolver.resolve(parts[0]), parts[1])
            }
        }
        let type = try ResourceResolver.resolve(first)
        let names = args.dropFirst()
        guard !names.isEmpty else { throw ClientError("resource name may not be empty") }
        return names.map { (type, $0) }
    }
}

/// Column-aligned output like kubectl's (three spaces between columns).
func printTable(_ rows: [[String]]) {
    guard let header = rows.first else { return }
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    var out = ""
    for row in rows {
        var line = ""
        for (i, cell) in row.enumerated() {
            line += cell
            if i < row.count - 1 { line += String(repeating: " ", count: widths[i] - cell.count + 3) }
        }
        out += line + "\n"
    }
    print(out, terminator: "")
}

func cellText(_ v: JSONValue) -> String {
    switch v {
    case .string(let s): return s
    case .null: return "<none>"
    default: return v.jsonString
    }
}
