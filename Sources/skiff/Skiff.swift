// `skiff`: the lean front. It runs the container commands itself and links only the runtime
// (Runtime, Images, Cgroups, CShims) and FoundationEssentials, so `skiff run` and `skiff exec`
// start in a few milliseconds. Cluster commands are exec'd in skiff-cluster (ClusterForwarding).
import ArgumentParser
import SkiffCLI

@main
struct Skiff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiff",
        abstract: "A small Kubernetes: container runtime, node agent and master.",
        subcommands: [RunCommand.self, PsCommand.self, LogsCommand.self, ExecCommand.self, KillCommand.self, RmCommand.self],
        groupedSubcommands: [CommandGroup(name: "Cluster", subcommands: ClusterForwarding.helpEntries)])

    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        // Before any parsing: a cluster command costs this process nothing but the exec.
        if ClusterCommand(arguments: arguments) != nil { ClusterForwarding.exec(arguments) }
        EntryPoint.run(Self.self, arguments)
    }
}
