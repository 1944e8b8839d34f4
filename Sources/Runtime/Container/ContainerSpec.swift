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

    /// How the container gets one kind of namespace (pid, uts, ipc, net): its own, the host's,
    /// or one it joins (a pod sandbox's /proc/PID/ns/... file).
    public enum NamespaceMode: Sendable, Equatable {
        case own
        case host
        case join(String)
    }
    public var pidNamespace = NamespaceMode.own
    public var utsNamespace = NamespaceMode.own
    public var ipcNamespace = NamespaceMode.own
    public var networkNamespace = NamespaceMode.own

    /// A host path bind-mounted into the container (volumes, /etc/hosts...).
    public struct BindMount: Sendable, Equatable {
        public var source: String
        public var destination: String
        public var readOnly: Bool
        public var propagation: Propagation
        public init(source: String, destination: String, readOnly: Bool, propagation: Propagation = .private) {
            self.source = source; self.destination = destination; self.readOnly = readOnly; self.propagation = propagation
        }
    }
    /// Mount propagation of a bind (Kubernetes mountPropagation None, HostToContainer, Bidirectional):
    /// rprivate, rslave (host mounts below the source appear inside), rshared (and the container's
    /// appear on the host).
    public enum Propagation: Sendable, Equatable, Comparable { case `private`, slave, shared }
    public var mounts: [BindMount] = []
    /// Capabilities added to / dropped from the default set ("ALL" drops or adds every one).
    public var capAdd: [String] = []
    public var capDrop: [String] = []
    public var seccompUnconfined = false
    /// Extra groups for the process (Kubernetes supplementalGroups and fsGroup).
    public var supplementalGroups: [UInt32] = []
    /// Primary group instead of the user's (Kubernetes runAsGroup without runAsUser).
    public var groupOverride: UInt32?
    /// Refuse to start when the resolved user is root (runAsNonRoot).
    public var requireNonRoot = false
    /// Cgroup parent for this container instead of the runtime's (a pod's cgroup).
    public var cgroupParent: String?
    /// Log rotation (kubelet containerLogMaxSize/MaxFiles): 0 bytes never rotates.
    public var logMaxBytes: Int64 = 0
    public var logMaxFiles = 5
    /// CPU weight from the request (cpu.shares on v1).
    public var cpuShares: UInt64?

    /// stdin open for attach (Kubernetes `stdin`, closed after the first attach with `stdinOnce`).
    public var stdin = false
    public var stdinOnce = false
    /// A terminal as the container's stdio (Kubernetes `tty`).
    public var tty = false

    public init(root: RootSource) { self.root = root }
}
