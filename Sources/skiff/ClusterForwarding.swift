// Handing cluster commands to skiff-cluster: `skiff master …` becomes `skiff-cluster master …` by
// execv (same pid, same argv[0], so process listings, signals and exit codes are unchanged).
import ArgumentParser
import Runtime
import SkiffCLI
#if canImport(Glibc)
import Glibc
#endif

enum ClusterForwarding {
    /// Help-only stand-ins, so `skiff --help` lists every command; running one never reaches them.
    static let helpEntries: [ParsableCommand.Type] = [
        ImageEntry.self, MasterEntry.self, SchedulerEntry.self, ControllerManagerEntry.self, NodeEntry.self,
        ProxyEntry.self, DNSEntry.self, UpEntry.self, EtcdMigrateEntry.self,
    ]

    /// skiff-cluster beside this executable (they are built and installed together), else /usr/local/bin's.
    static var executablePath: String {
        Executables.beside(ClusterCommand.executableName) ?? "/usr/local/bin/" + ClusterCommand.executableName
    }

    static func exec(_ arguments: [String]) -> Never {
        let path = executablePath
        let argv: [UnsafeMutablePointer<CChar>?] = ([CommandLine.arguments[0]] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        let reason = String(cString: strerror(errno))
        EntryPoint.fail("`skiff \(arguments.joined(separator: " "))` needs \(path): \(reason)", code: 127)
    }
}

/// A cluster command as `skiff --help` lists it.
protocol ForwardedCommand: ParsableCommand {
    static var command: ClusterCommand { get }
}

extension ForwardedCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: command.rawValue, abstract: command.abstract)
    }
}

struct ImageEntry: ForwardedCommand { static let command = ClusterCommand.image }
struct MasterEntry: ForwardedCommand { static let command = ClusterCommand.master }
struct SchedulerEntry: ForwardedCommand { static let command = ClusterCommand.scheduler }
struct ControllerManagerEntry: ForwardedCommand { static let command = ClusterCommand.controllerManager }
struct NodeEntry: ForwardedCommand { static let command = ClusterCommand.node }
struct ProxyEntry: ForwardedCommand { static let command = ClusterCommand.proxy }
struct DNSEntry: ForwardedCommand { static let command = ClusterCommand.dns }
struct UpEntry: ForwardedCommand { static let command = ClusterCommand.up }
struct EtcdMigrateEntry: ForwardedCommand { static let command = ClusterCommand.etcdMigrate }
