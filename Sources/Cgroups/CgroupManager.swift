// Creating, limiting, inspecting and removing cgroups across v1 and v2 hierarchies.
#if canImport(Glibc)
import Glibc
#endif

public protocol CgroupManager: Sendable {
    /// Creates `path` (relative to each hierarchy root, e.g. "skiff/<id>") with `limits`.
    /// On failure nothing it created remains.
    func create(_ path: String, limits: CgroupLimits) throws -> Cgroup
    /// The cgroup at `path`, existing or not.
    func open(_ path: String) -> Cgroup
    /// Removes `path` everywhere, killing processes still in it; missing dirs are fine.
    func remove(_ path: String) throws
}

public func makeCgroupManager(fs: CgroupFS = RealCgroupFS(), layout: CgroupLayout? = nil) throws -> any CgroupManager {
    if let layout { return CgroupTree(fs: fs, layout: layout) }
    return CgroupTree(fs: fs, layout: try fs is RealCgroupFS ? CgroupLayout.host() : CgroupLayout.detect(fs: fs))
}

/// One cgroup as it appears in each hierarchy.
public struct Cgroup: Sendable {
    public let path: String
    /// Every directory of this cgroup (one per v1 hierarchy used, one for v2).
    public let directories: [String]
    let fs: CgroupFS
    let layout: CgroupLayout

    /// The files the container's init writes "0" to, joining each hierarchy. On v1 that is
    /// `tasks`: moving just the (single-threaded) caller skips the threadgroup lock, whose RCU
    /// sync costs 5–40 ms per container start; cgroup.procs would take it. v2 needs cgroup.procs.
    public var joinFiles: [String] {
        directories.map { dir in
            if let v2 = layout.v2, dir.hasPrefix(v2 + "/") { return dir + "/cgroup.procs" }
            return dir + "/tasks"
        }
    }

    /// A file with an "oom_kill N" line: memory.events (v2) or memory.oom_control (v1).
    public var oomEventsFile: String? {
        switch layout.placement(of: .memory) {
        case .v2(let m): return "\(m)/\(path)/memory.events"
        case .v1(let m): return "\(m)/\(path)/memory.oom_control"
        case nil: return nil
        }
    }

    public func pids() throws -> [Int32] {
        guard let dir = directories.first else { return [] }
        return try fs.read(dir + "/cgroup.procs").split(separator: "\n").compactMap { Int32($0) }
    }

    func dir(_ c: Controller) -> String? {
        switch layout.placement(of: c) {
        case .v1(let m), .v2(let m): return "\(m)/\(path)"
        case nil: return nil
        }
    }

    func isV2(_ c: Controller) -> Bool {
        if case .v2 = layout.placement(of: c) { return true }
        return false
    }

    public func stats() throws -> CgroupStats {
        var s = CgroupStats()
        if let d = dir(.memory) {
            let stat = keyValues(try fs.read(d + "/memory.stat"))
            if isV2(.memory) {
                s.memoryUsageBytes = Int64(try fs.read(d + "/memory.current").trimmed) ?? 0
                s.memoryWorkingSetBytes = max(0, s.memoryUsageBytes - (stat["inactive_file"] ?? 0))
            } else {
                s.memoryUsageBytes = Int64(try fs.read(d + "/memory.usage_in_bytes").trimmed) ?? 0
                s.memoryWorkingSetBytes = max(0, s.memoryUsageBytes - (stat["total_inactive_file"] ?? 0))
            }
            let keys = MemoryStatKeys(v2: isV2(.memory))
            s.memoryRSSBytes = stat[keys.rss] ?? 0
            s.memoryCacheBytes = stat[keys.cache] ?? 0
            if let oom = oomEventsFile { s.oomKills = keyValues(try fs.read(oom))["oom_kill"] ?? 0 }
        }
        if let d = dir(.cpu) {
            let stat = keyValues(try fs.read(d + "/cpu.stat"))
            if isV2(.cpu) {
                s.cpuUsageNanos = (stat["usage_usec"] ?? 0) * 1000
                (s.cpuUserNanos, s.cpuSystemNanos) = CPUTimeKeys.v2.nanoseconds(stat)
                s.throttledPeriods = stat["nr_throttled"] ?? 0
                s.throttledNanos = (stat["throttled_usec"] ?? 0) * 1000
            } else {
                s.throttledPeriods = stat["nr_throttled"] ?? 0
                s.throttledNanos = stat["throttled_time"] ?? 0
                if let a = dir(.cpuacct) {
                    s.cpuUsageNanos = Int64(try fs.read(a + "/cpuacct.usage").trimmed) ?? 0
                    // (An older kernel may lack cpuacct.stat.)
                    (s.cpuUserNanos, s.cpuSystemNanos) = CPUTimeKeys.v1.nanoseconds(keyValues((try? fs.read(a + "/cpuacct.stat")) ?? ""))
                }
            }
        }
        if let d = dir(.pids) { s.pidsCurrent = Int64(try fs.read(d + "/pids.current").trimmed) ?? 0 }
        return s
    }
}

/// memory.stat's anonymous memory and page cache: v1's hierarchical totals, v2's own counters.
struct MemoryStatKeys {
    let rss: String, cache: String
    init(v2: Bool) { (rss, cache) = v2 ? ("anon", "file") : ("total_rss", "total_cache") }
}

/// User and system CPU time: v2's cpu.stat in microseconds, v1's cpuacct.stat in USER_HZ ticks.
struct CPUTimeKeys {
    let user: String, system: String, nanosPerUnit: Int64
    static let v2 = CPUTimeKeys(user: "user_usec", system: "system_usec", nanosPerUnit: 1000)
    static let v1 = CPUTimeKeys(user: "user", system: "system", nanosPerUnit: 1_000_000_000 / max(Int64(sysconf(Int32(_SC_CLK_TCK))), 1))

    func nanoseconds(_ stat: [String: Int64]) -> (user: Int64, system: Int64) {
        ((stat[user] ?? 0) * nanosPerUnit, (stat[system] ?? 0) * nanosPerUnit)
    }
}

public struct CgroupStats: Equatable, Sendable {
    public var memoryUsageBytes: Int64 = 0
    /// Usage minus inactive file cache: what the kubelet calls the working set.
    public var memoryWorkingSetBytes: Int64 = 0
    public var oomKills: Int64 = 0
    public var cpuUsageNanos: Int64 = 0
    public var throttledPeriods: Int64 = 0
    public var throttledNanos: Int64 = 0
    public var pidsCurrent: Int64 = 0
    /// Anonymous memory (v1 total_rss, v2 anon) and page cache (total_cache, file).
    public var memoryRSSBytes: Int64 = 0
    public var memoryCacheBytes: Int64 = 0
    public var cpuUserNanos: Int64 = 0
    public var cpuSystemNanos: Int64 = 0
}

struct CgroupTree: CgroupManager {
    let fs: CgroupFS
    let layout: CgroupLayout

    /// The distinct hierarchy mounts the runtime's controllers live in, plus the unified (v2)
    /// hierarchy even without controllers there (as systemd does on hybrid hosts): it tracks the
    /// container's processes reliably and offers cgroup.kill. The shim enters it at clone time.
    var mounts: [String] {
        var seen: [String] = layout.v2.map { [$0] } ?? []
        for c in Controller.allCases {
            switch layout.placement(of: c) {
            case .v1(let m), .v2(let m): if !seen.contains(m) { seen.append(m) }
            case nil: continue
            }
        }
        return seen
    }

    func open(_ path: String) -> Cgroup {
        Cgroup(path: path, directories: mounts.map { "\($0)/\(path)" }, fs: fs, layout: layout)
    }

    func create(_ path: String, limits: CgroupLimits) throws -> Cgroup {
        let components = path.split(separator: "/").map(String.init)
        guard !components.isEmpty, !components.contains(".."), !components.contains(".") else {
            throw CgroupError(.invalid, "invalid cgroup path \"\(path)\"")
        }
        let cgroup = open(path)
        var created: [String] = []
        do {
            for mount in mounts {
                var dir = mount
                for (i, name) in components.enumerated() {
                    if let v2 = layout.v2, mount == v2 { try enableV2Controllers(in: dir) }
                    dir += "/" + name
                    // Only the leaf is ours to remove on failure; parents are shared.
                    if try fs.mkdir(dir), i == components.count - 1 { created.append(dir) }
                }
            }
            try apply(limits, to: cgroup)
            return cgroup
        } catch {
            for dir in created.reversed() { try? fs.rmdir(dir) }
            throw error
        }
    }

    /// Lets children of `dir` use the v2 controllers we need.
    private func enableV2Controllers(in dir: String) throws {
        let wanted = ["memory", "cpu", "pids"].filter { layout.v2Controllers.contains($0) }
        guard !wanted.isEmpty else { return }
        let enabled = (try? fs.read(dir + "/cgroup.subtree_control")) ?? ""
        let have = Set(enabled.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        let missing = wanted.filter { !have.contains($0) }
        guard !missing.isEmpty else { return }
        try fs.write(dir + "/cgroup.subtree_control", missing.map { "+" + $0 }.joined(separator: " "))
    }

    private func apply(_ limits: CgroupLimits, to cgroup: Cgroup) throws {
        if let bytes = limits.memoryBytes, let d = cgroup.dir(.memory) {
            if cgroup.isV2(.memory) {
                try fs.write(d + "/memory.max", String(bytes))
                // No swapping around the limit: the OOM kill is what users expect to see.
                if fs.exists(d + "/memory.swap.max") { try fs.write(d + "/memory.swap.max", "0") }
            } else {
                try fs.write(d + "/memory.limit_in_bytes", String(bytes))
                if fs.exists(d + "/memory.memsw.limit_in_bytes") { try fs.write(d + "/memory.memsw.limit_in_bytes", String(bytes)) }
            }
        }
        if let d = cgroup.dir(.cpu) {
            if cgroup.isV2(.cpu) {
                if let quota = limits.cpuQuotaMicros { try fs.write(d + "/cpu.max", "\(quota) \(limits.cpuPeriodMicros)") }
                if let shares = limits.cpuShares { try fs.write(d + "/cpu.weight", String(CgroupConversions.weight(fromShares: shares))) }
            } else {
                if let quota = limits.cpuQuotaMicros {
                    try fs.write(d + "/cpu.cfs_period_us", String(limits.cpuPeriodMicros))
                    try fs.write(d + "/cpu.cfs_quota_us", String(quota))
                }
                if let shares = limits.cpuShares { try fs.write(d + "/cpu.shares", String(shares)) }
            }
        }
        if let pids = limits.pidsMax, let d = cgroup.dir(.pids) { try fs.write(d + "/pids.max", String(pids)) }
    }

    func remove(_ path: String) throws {
        let cgroup = open(path)
        for dir in cgroup.directories where fs.exists(dir) {
            var lastError: Error?
            for attempt in 0..<50 {
                do { try fs.rmdir(dir); lastError = nil; break } catch let e as CgroupError where e.code == .busy {
                    lastError = e
                    if attempt % 10 == 0 { killAll(in: dir) }
                    usleep(useconds_t(min(2000 * (attempt + 1), 20_000)))
                }
            }
            if let lastError { throw lastError }
        }
    }

    /// SIGKILL everything left in a cgroup dir (v2 has cgroup.kill for exactly this).
    private func killAll(in dir: String) {
        if fs.exists(dir + "/cgroup.kill") { try? fs.write(dir + "/cgroup.kill", "1"); return }
        let pids = ((try? fs.read(dir + "/cgroup.procs")) ?? "").split(separator: "\n").compactMap { Int32($0) }
        for pid in pids { kill(pid, SIGKILL) }
    }
}

func keyValues(_ text: String) -> [String: Int64] {
    var out: [String: Int64] = [:]
    for line in text.split(separator: "\n") {
        let f = line.split(separator: " ")
        if f.count == 2, let v = Int64(f[1]) { out[String(f[0])] = v }
    }
    return out
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let l = s.last, l == "\n" || l == " " { s.removeLast() }
        return String(s)
    }
}
