// The Swift mirror of the spawn file the C monitor executes (format: CShims/shim/include/skiff_shim.h).
// Built in the parent as plain data; nothing here runs after clone.

public struct SpawnConfig: Sendable, Equatable {
    public struct Namespace: Sendable, Equatable {
        /// mnt, pid, uts, ipc, net or cgroup.
        public var type: String
        /// A namespace file to join (e.g. /proc/123/ns/net); nil creates a new one.
        public var path: String?
        public init(type: String, path: String?) { self.type = type; self.path = path }
    }

    public struct Mount: Sendable, Equatable {
        public var source: String
        public var destination: String
        public var fstype: String
        public var flags: UInt
        public var data: String
        public init(source: String, destination: String, fstype: String, flags: UInt, data: String = "") {
            self.source = source; self.destination = destination; self.fstype = fstype; self.flags = flags; self.data = data
        }
    }

    public struct Device: Sendable, Equatable {
        public var path: String
        public var type: Character   // "c" or "b"
        public var major: UInt32
        public var minor: UInt32
        public var mode: UInt32
        public var uid: UInt32 = 0
        public var gid: UInt32 = 0
    }

    public struct Symlink: Sendable, Equatable {
        public var target: String
        public var link: String
    }

    public struct Rlimit: Sendable, Equatable {
        public var resource: Int32
        public var soft: UInt64
        public var hard: UInt64
        public init(resource: Int32, soft: UInt64, hard: UInt64) { self.resource = resource; self.soft = soft; self.hard = hard }
    }

    public struct Capabilities: Sendable, Equatable {
        public var bounding: UInt64 = 0
        public var effective: UInt64 = 0
        public var permitted: UInt64 = 0
        public var inheritable: UInt64 = 0
        public var ambient: UInt64 = 0
    }

    public var rootfs = ""
    public var args: [String] = []
    public var env: [String] = []
    public var cwd = "/"
    public var hostname: String?
    public var namespaces: [Namespace] = []
    public var mounts: [Mount] = []
    public var devices: [Device] = []
    public var symlinks: [Symlink] = []
    public var maskedPaths: [String] = []
    public var readonlyPaths: [String] = []
    public var readonlyRootfs = false
    /// The container's mount tree: private, or slave/shared of the host's (mount propagation).
    public var propagation = ContainerSpec.Propagation.private
    public var rlimits: [Rlimit] = []
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var groups: [UInt32] = []
    public var capabilities = Capabilities()
    public var noNewPrivileges = false
    public var seccompPath: String?
    public var cgroupProcs: [String] = []
    public var oomEvents: String?
    public var logPath: String?
    /// Log rotation: past this many bytes (0: never), keeping `logMaxFiles` files.
    public var logMaxBytes: Int64 = 0
    public var logMaxFiles = 5
    public var exitFile: String?
    public var pidFile: String?
    public var foreground = false
    /// stdin is a terminal that becomes the process's controlling tty (exec -t).
    public var tty = false
    /// The container gets a terminal of its own devpts as stdio (Kubernetes `tty: true`).
    public var terminal = false
    /// The monitor's attach socket feeding the container's stdin (Kubernetes `stdin: true`), and
    /// whether stdin ends after the first attached client's does (`stdinOnce`).
    public var stdinSocket: String?
    public var stdinOnce = false
    public var cleanupUmount: [String] = []
    public var cleanupRmdir: [String] = []
    public var cleanupRmtree: [String] = []

    public init() {}

    /// The spawn file's bytes: records of NUL-terminated key and fields.
    public func encoded() throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        func record(_ key: String, _ fields: String...) throws {
            for f in [key] + fields {
                guard !f.utf8.contains(0) else {
                    throw RuntimeError(.invalidArgument, "\(key) value contains a NUL byte: \(f.debugDescription)")
                }
                out.append(contentsOf: f.utf8)
                out.append(0)
            }
        }
        func hex(_ v: UInt64) -> String { String(v, radix: 16) }

        try record("rootfs", rootfs)
        for a in args { try record("arg", a) }
        for e in env { try record("env", e) }
        try record("cwd", cwd)
        if let hostname { try record("hostname", hostname) }
        for ns in namespaces { try record("ns", ns.type, ns.path ?? "new") }
        for m in mounts { try record("mount", m.source, m.destination, m.fstype, String(m.flags), m.data) }
        for d in devices {
            try record("device", d.path, String(d.type), String(d.major), String(d.minor), String(d.mode, radix: 8),
                       String(d.uid), String(d.gid))
        }
        for s in symlinks { try record("symlink", s.target, s.link) }
        for p in maskedPaths { try record("masked", p) }
        for p in readonlyPaths { try record("readonly", p) }
        try record("readonly_rootfs", readonlyRootfs ? "1" : "0")
        if propagation != .private { try record("propagation", propagation == .slave ? "slave" : "shared") }
        for r in rlimits {
            try record("rlimit", String(r.resource), r.soft == .max ? "inf" : String(r.soft), r.hard == .max ? "inf" : String(r.hard))
        }
        try record("user", String(uid), String(gid))
        try record("groups", groups.map(String.init).joined(separator: ","))
        try record("caps", hex(capabilities.bounding), hex(capabilities.effective), hex(capabilities.permitted),
                   hex(capabilities.inheritable), hex(capabilities.ambient))
        try record("no_new_privs", noNewPrivileges ? "1" : "0")
        if let seccompPath { try record("seccomp", seccompPath) }
        for p in cgroupProcs { try record("cgroup", p) }
        if let oomEvents { try record("oom_events", oomEvents) }
        if let logPath { try record("log", logPath) }
        if logMaxBytes > 0 { try record("log_max", String(logMaxBytes), String(logMaxFiles)) }
        if let exitFile { try record("exit_file", exitFile) }
        if let pidFile { try record("pid_file", pidFile) }
        try record("foreground", foreground ? "1" : "0")
        if tty { try record("tty", "1") }
        if terminal { try record("terminal", "1") }
        if let stdinSocket { try record("stdin", stdinSocket, stdinOnce ? "1" : "0") }
        for p in cleanupUmount { try record("cleanup_umount", p) }
        for p in cleanupRmdir { try record("cleanup_rmdir", p) }
        for p in cleanupRmtree { try record("cleanup_rmtree", p) }
        return out
    }

    public func write(to path: String) throws {
        try FileIO.writeAtomic(path, try encoded(), mode: 0o600)
    }
}
