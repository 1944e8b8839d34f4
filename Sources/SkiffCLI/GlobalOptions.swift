// What both skiff executables share: the options of every command that touches container state.
import ArgumentParser
import Runtime
#if canImport(Glibc)
import Glibc
#endif

/// Options every container and image command shares.
public struct GlobalOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: "State directory (containers, images).")
    public var root: String = String(cString: getenv("SKIFF_ROOT") ?? strdup("/var/lib/skiff"))

    @Option(name: .customLong("cgroup-parent"), help: "Cgroup under which containers are created.")
    public var cgroupParent: String = "skiff"

    public init() {}

    public func runtime() throws -> ContainerRuntime {
        try ContainerRuntime(options: RuntimeOptions(root: root, cgroupParent: cgroupParent))
    }
}
