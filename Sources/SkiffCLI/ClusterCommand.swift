// The commands the `skiff` front hands to `skiff-cluster`. Named once here: the front lists them
// in its help and forwards them, skiff-cluster implements them under the same names and abstracts.

/// A top-level command implemented by the skiff-cluster executable.
public enum ClusterCommand: String, CaseIterable, Sendable {
    case image
    case master
    case scheduler
    case controllerManager = "controller-manager"
    case node
    case proxy
    case dns
    case up
    case etcdMigrate = "etcd-migrate"

    /// The executable beside `skiff` that holds these commands (the API server, TLS, the HTTP client…).
    public static let executableName = "skiff-cluster"

    public var abstract: String {
        switch self {
        case .image: "Manage images."
        case .master: "Run the master: the Kubernetes API server over an embedded SQLite store."
        case .scheduler: "Run the scheduler against an API server."
        case .controllerManager: "Run the controllers against an API server."
        case .node: "Run the node agent: register with the master and run the pods bound to this node."
        case .proxy: "Program iptables so Service IPs reach their endpoints."
        case .dns: "Serve the cluster DNS (Services, endpoints, pods) from the API, forwarding other names."
        case .up: "Run master, node and proxy on this host in one process (state under /var/lib/skiff)."
        case .etcdMigrate: "Copy a stopped master's SQLite state into etcd (then start it with --store etcd)."
        }
    }

    /// The cluster command a command line names ("master …", "help master …"), if any.
    public init?(arguments: [String]) {
        let name = arguments.first == "help" ? arguments.dropFirst().first : arguments.first
        guard let name, let command = ClusterCommand(rawValue: name) else { return nil }
        self = command
    }
}
