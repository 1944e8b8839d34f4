// `skiff`: flag parsing and wiring only; the work happens in Runtime and Images.
import ArgumentParser
import Runtime
#if canImport(Glibc)
import Glibc
#endif

@main
struct Skiff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiff",
        abstract: "A small Kubernetes: container runtime, node agent and master in one binary.",
        subcommands: [RunCommand.self, PsCommand.self, LogsCommand.self, ExecCommand.self, KillCommand.self, RmCommand.self,
                      ImageCommand.self, MasterCommand.self, SchedulerCommand.self, ControllerManagerCommand.self, NodeCommand.self, ProxyCommand.self, DNSCommand.self, UpCommand.self, EtcdMigrateCommand.self])

    /// One clear line on stderr for any error; help and usage errors as ArgumentParser prints them.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as RuntimeError {
            fail(error.description, code: 125)
        } catch let error as ExitCode {
            Glibc.exit(error.rawValue)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            let message = self.message(for: error)
            if message.isEmpty { exit(withError: error) }
            fail(message, code: exitCode(for: error).rawValue)
        }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        writeAll(2, "skiff: " + message.split(separator: "\n", omittingEmptySubsequences: true).joined(separator: "; ") + "\n")
        Glibc.exit(code)
    }
}

/// Options every container command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "State directory (containers, images).")
    var root: String = String(cString: getenv("SKIFF_ROOT") ?? strdup("/var/lib/skiff"))

    @Option(name: .customLong("cgroup-parent"), help: "Cgroup under which containers are created.")
    var cgroupParent: String = "skiff"

    func runtime() throws -> ContainerRuntime {
        try ContainerRuntime(options: RuntimeOptions(root: root, cgroupParent: cgroupParent))
    }
}
