// What a user asks `skiff run` for: the container before it is planned.

public struct ContainerSpec: Sendable, Equatable {
    public enum RootSource: Sendable, Equatable {
        /// An image in the store, by reference or id.
        case image(String)
        /// A plain directory used as the root, written in place.
        case directory(String)
    }

    public var root: RootSource
    public var name: String?
    /// Overrides the image's Cmd (Entrypoint stays) — like `docker run IMAGE CMD...`.
    public var command: [String] = []
    /// Overrides the image's Entrypoint (Kubernetes `command`); the image's Cmd is then dropped
    /// and `command` holds the arguments (Kubernetes `args`).
    public var entrypoint: [String]?
    public var env: [String] = []
    public var hostname: String?
    public var workingDir: String?
    /// "UID", "UID:GID", or a name in the image's /etc/passwd.
    public var user: String?
    public var memoryBytes: Int64?
    public var milliCPUs: Int64?
    public var pidsLimit: Int64?
    public var readOnlyRootfs = false
    public var privileged = false
    public var noNewPrivileges = false
    public var autoRemove = false
    public var detach = false

    public init(root: RootSource) { self.root = root }
}
