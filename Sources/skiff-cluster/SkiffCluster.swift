// `skiff-cluster`: the cluster commands (master, node, up, proxy, …) and images, with everything
// they link (the API server, TLS, the HTTP client, Foundation). Users type `skiff master`: the lean
// `skiff` front execs this executable for the commands ClusterCommand names, so help and errors
// say "skiff". Flag parsing and wiring only.
import ArgumentParser
import SkiffCLI

@main
struct SkiffCluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiff",
        abstract: "A small Kubernetes: the cluster commands behind `skiff`.",
        subcommands: [ImageCommand.self, MasterCommand.self, SchedulerCommand.self, ControllerManagerCommand.self,
                      NodeCommand.self, ProxyCommand.self, DNSCommand.self, UpCommand.self, EtcdMigrateCommand.self])

    static func main() { EntryPoint.run(Self.self, Array(CommandLine.arguments.dropFirst())) }
}
