import ArgumentParser
import Runtime
import SkiffCLI

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a command in a new container.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Remove the container when it exits.") var rm = false
    @Flag(name: .shortAndLong, help: "Run in the background and print the container id.") var detach = false
    @Option(help: "Container name.") var name: String?
    @Option(help: "Memory limit, e.g. 64Mi.") var memory: String?
    @Option(help: "CPU limit, e.g. 0.5 or 500m.") var cpus: String?
    @Option(help: "Maximum number of processes.") var pids: Int64?
    @Option(name: [.short, .long], help: "Environment variable KEY=VALUE (repeatable).") var env: [String] = []
    @Option(help: "Container hostname.") var hostname: String?
    @Flag(name: .customLong("read-only"), help: "Mount the root filesystem read-only.") var readOnly = false
    @Flag(help: "Give the container all capabilities, no seccomp, no masked paths.") var privileged = false
    @Flag(name: .customLong("no-new-privileges"), help: "Set no_new_privs for the container.") var noNewPrivileges = false
    @Option(name: [.short, .long], help: "UID[:GID] or user name to run as.") var user: String?
    @Option(name: [.short, .long], help: "Working directory inside the container.") var workdir: String?
    @Option(help: "Use this directory as the root filesystem instead of an image.") var rootfs: String?
    @Argument(parsing: .captureForPassthrough, help: "IMAGE [CMD ARGS...] (or CMD ARGS... with --rootfs)")
    var rest: [String] = []

    func validate() throws {
        if rootfs == nil && rest.filter({ $0 != "--" }).isEmpty {
            throw ValidationError("an image or --rootfs DIR is required")
        }
        if let pids, pids <= 0 { throw ValidationError("--pids must be a positive number") }
        for e in env where e.hasPrefix("=") || e.isEmpty {
            throw ValidationError("invalid --env \"\(e)\": expected KEY=VALUE")
        }
    }

    func run() throws {
        var args = rest
        if args.first == "--" { args.removeFirst() }
        let source: ContainerSpec.RootSource
        if let rootfs {
            source = .directory(rootfs)
        } else {
            source = .image(args.removeFirst())
            if args.first == "--" { args.removeFirst() }
        }
        var spec = ContainerSpec(root: source)
        spec.name = name
        spec.command = args
        spec.env = env
        spec.hostname = hostname
        spec.workingDir = workdir
        spec.user = user
        spec.memoryBytes = try memory.map { try ResourceQuantity.bytes($0) }
        spec.milliCPUs = try cpus.map { try ResourceQuantity.milliCPUs($0) }
        spec.pidsLimit = pids
        spec.readOnlyRootfs = readOnly
        spec.privileged = privileged
        spec.noNewPrivileges = noNewPrivileges
        spec.autoRemove = rm
        spec.detach = detach
        let record = try global.runtime().run(spec)
        print(record.id)
    }
}
