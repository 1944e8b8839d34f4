// Where each controller lives: a v1 hierarchy, or the unified (v2) hierarchy. Hybrid hosts mix
// both; pure v2 hosts mount cgroup2 at /sys/fs/cgroup.
import Synchronization

public enum Controller: String, CaseIterable, Sendable {
    case memory, cpu, cpuacct, pids
}

public struct CgroupLayout: Equatable, Sendable {
    /// v1 controller → its hierarchy's mount point.
    public var v1: [String: String]
    /// The cgroup2 mount point, if any.
    public var v2: String?
    /// Controllers available in the v2 root (its cgroup.controllers).
    public var v2Controllers: Set<String>

    public init(v1: [String: String], v2: String?, v2Controllers: Set<String>) {
        self.v1 = v1
        self.v2 = v2
        self.v2Controllers = v2Controllers
    }

    public enum Placement: Equatable, Sendable {
        case v1(mount: String)
        case v2(mount: String)
    }

    /// A controller enabled in v2 is used there; otherwise through its v1 hierarchy.
    /// cpuacct has no v2 controller: on v2 its accounting is part of cpu (cpu.stat).
    public func placement(of controller: Controller) -> Placement? {
        let v2Name = controller == .cpuacct ? "cpu" : controller.rawValue
        if let v2, v2Controllers.contains(v2Name) { return .v2(mount: v2) }
        if let mount = v1[controller.rawValue] { return .v1(mount: mount) }
        return nil
    }

    public var isPureV2: Bool { v1.isEmpty && v2 != nil }

    /// Builds the layout from /proc/self/mountinfo text; `controllersOf` reads a v2 mount's
    /// cgroup.controllers.
    public static func parse(mountinfo: String, controllersOf: (String) -> String?) -> CgroupLayout {
        var v1: [String: String] = [:]
        var v2: String?
        for line in mountinfo.split(separator: "\n") {
            // "... mountpoint opts [optional...] - fstype source superopts"
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash >= 5, fields.count >= dash + 4 else { continue }
            let pre = fields[..<dash]
            let post = Array(fields[(dash + 1)...])
            let mountPoint = String(pre[4])
            switch post[0] {
            case "cgroup2":
                if v2 == nil || mountPoint == "/sys/fs/cgroup" { v2 = mountPoint }
            case "cgroup":
                for opt in post[2].split(separator: ",") {
                    let name = String(opt)
                    if Controller(rawValue: name) != nil, v1[name] == nil { v1[name] = mountPoint }
                }
            default:
                continue
            }
        }
        let controllers = v2.flatMap(controllersOf).map { Set($0.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)) } ?? []
        return CgroupLayout(v1: v1, v2: v2, v2Controllers: controllers)
    }

    /// This host's layout, detected once per process: hierarchies are mounted at boot, and
    /// parsing mountinfo (which grows with every container's rootfs mount) on each container
    /// start was a quarter of the node agent's CPU under a Job burst.
    public static func host() throws -> CgroupLayout {
        try hostLayout.withLock { cached in
            if let cached { return cached }
            let layout = try detect()
            cached = layout
            return layout
        }
    }
    private static let hostLayout = Mutex<CgroupLayout?>(nil)

    public static func detect(fs: CgroupFS = RealCgroupFS()) throws -> CgroupLayout {
        let mountinfo: String
        do { mountinfo = try fs.read("/proc/self/mountinfo") } catch {
            throw CgroupError(.unavailable, "cannot read /proc/self/mountinfo to find cgroup mounts")
        }
        let layout = parse(mountinfo: mountinfo) { try? fs.read($0 + "/cgroup.controllers") }
        guard !layout.v1.isEmpty || layout.v2 != nil else {
            throw CgroupError(.unavailable, "no cgroup filesystem is mounted")
        }
        return layout
    }
}
