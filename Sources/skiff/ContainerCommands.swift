import ArgumentParser
import Runtime
import SkiffCLI
#if canImport(Glibc)
import Glibc
#endif

struct PsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List containers.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Only print ids.") var quiet = false

    func run() throws {
        let rows = try global.runtime().list()
        if quiet { rows.forEach { print($0.record.id.prefix(12)) }; return }
        var table = [["CONTAINER ID", "NAME", "IMAGE", "COMMAND", "CREATED", "STATUS"]]
        for (r, s) in rows {
            table.append([String(r.id.prefix(12)), r.name, r.image, r.command.joined(separator: " "), r.createdAt, s.summary])
        }
        printTable(table)
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a container's output.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Follow the log until the container exits.") var follow = false
    @Flag(name: .shortAndLong, help: "Show timestamps.") var timestamps = false
    @Argument(help: "Container id, id prefix or name.") var container: String

    func run() throws {
        try global.runtime().logs(container, follow: follow) { line in
            var text = timestamps ? line.timestamp + " " + line.text : line.text
            if line.complete { text += "\n" }
            writeAll(line.stream == .stderr ? 2 : 1, text)
        }
    }
}

struct KillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", abstract: "Send a signal to a container.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .customLong("signal")], help: "Signal name or number.") var signal: String = "KILL"
    @Argument(help: "Container id, id prefix or name.") var container: String

    func run() throws {
        try global.runtime().kill(container, signal: try Signals.number(of: signal))
    }
}

struct RmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove containers.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Kill a running container first.") var force = false
    @Argument(help: "Container ids, id prefixes or names.") var containers: [String]

    func run() throws {
        let runtime = try global.runtime()
        for c in containers { try runtime.remove(c, force: force); print(c) }
    }
}

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", abstract: "Run a command in a running container.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Give the command a terminal (needs one on stdin).") var tty = false
    @Argument(help: "Container id, id prefix or name.") var container: String
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).") var command: [String] = []

    func run() throws {
        let args = command.first == "--" ? Array(command.dropFirst()) : command
        if tty && isatty(0) == 0 { throw ValidationError("-t needs a terminal on stdin") }
        try global.runtime().execForeground(container, command: args, tty: tty)
    }
}
