// Linux capabilities by name, and the default set containers get (Docker's/containerd's).

/// A set of Linux capabilities as the 64-bit mask capset(2) and /proc/PID/status use.
public struct CapabilitySet: Equatable, Sendable, CustomStringConvertible {
    public var mask: UInt64

    public init(mask: UInt64) { self.mask = mask }

    /// Builds a set from names like "CAP_CHOWN" or "chown" (case-insensitive, prefix optional).
    public init(names: [String]) throws {
        var m: UInt64 = 0
        for name in names { m |= 1 << UInt64(try Capability.number(of: name)) }
        mask = m
    }

    public static let empty = CapabilitySet(mask: 0)

    /// Every capability this table knows (what a privileged container gets).
    public static let all = CapabilitySet(mask: Capability.names.indices.reduce(0) { $0 | (1 << UInt64($1)) })

    /// Docker's and containerd's default container capabilities.
    public static let containerDefault: CapabilitySet = {
        let names = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
                     "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"]
        var m: UInt64 = 0
        for n in names { if let i = Capability.names.firstIndex(of: "CAP_" + n) { m |= 1 << UInt64(i) } }
        return CapabilitySet(mask: m)
    }()

    /// This process's bounding set (/proc/self/status CapBnd): what a privileged container may
    /// get here. Sandboxes often lack some capabilities (e.g. CAP_SYS_RESOURCE).
    public static func processBounding() -> CapabilitySet {
        guard let status = try? FileIO.readString("/proc/self/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapBnd:") }),
              let mask = UInt64(line.dropFirst(7).trimmingPrefix(while: { $0 == "\t" || $0 == " " }), radix: 16) else {
            return .all
        }
        return CapabilitySet(mask: mask)
    }

    public func intersection(_ other: CapabilitySet) -> CapabilitySet { CapabilitySet(mask: mask & other.mask) }
    public func contains(_ name: String) -> Bool {
        guard let n = try? Capability.number(of: name) else { return false }
        return mask & (1 << UInt64(n)) != 0
    }

    public var names: [String] {
        Capability.names.indices.filter { mask & (1 << UInt64($0)) != 0 }.map { Capability.names[$0] }
    }

    /// 16 hex digits, as in /proc/PID/status CapEff lines.
    public var hex: String {
        let s = String(mask, radix: 16)
        return String(repeating: "0", count: max(0, 16 - s.count)) + s
    }

    public var description: String { names.joined(separator: ",") }
}

public enum Capability {
    /// Index = capability number (linux/capability.h, up to CAP_CHECKPOINT_RESTORE = 40).
    public static let names: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
        "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    public static func number(of name: String) throws -> Int {
        var n = name.uppercased()
        if !n.hasPrefix("CAP_") { n = "CAP_" + n }
        guard let i = names.firstIndex(of: n) else {
            throw RuntimeError(.invalidArgument, "unknown capability \"\(name)\"")
        }
        return i
    }
}
