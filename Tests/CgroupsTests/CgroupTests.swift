import Testing
@testable import Cgroups
#if canImport(Glibc)
import Glibc
#endif

/// An in-memory cgroup filesystem: records writes, can be told to fail one.
final class FakeCgroupFS: CgroupFS, @unchecked Sendable {
    // @unchecked: tests use one instance from one task.
    var files: [String: String] = [:]
    var dirs: Set<String> = []
    var writes: [(String, String)] = []
    var failWrite: String?
    var busyUntilKilled: Set<String> = []

    func read(_ path: String) throws -> String {
        guard let v = files[path] else { throw CgroupError(.io, "open \(path)", errno: 2) }
        return v
    }
    func write(_ path: String, _ value: String) throws {
        if path == failWrite { throw CgroupError(.io, "write \"\(value)\" to \(path)", errno: 22) }
        writes.append((path, value))
        files[path] = value
        if path.hasSuffix("/cgroup.kill") { busyUntilKilled.remove(String(path.dropLast(12))) }
    }
    func mkdir(_ path: String) throws -> Bool { dirs.insert(path).inserted }
    func rmdir(_ path: String) throws {
        if busyUntilKilled.contains(path) { throw CgroupError(.busy, "rmdir \(path)", errno: 16) }
        dirs.remove(path)
    }
    func exists(_ path: String) -> Bool { dirs.contains(path) || files[path] != nil }
}

let hybridMountinfo = """
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
let pureV2Mountinfo = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
let comountedV1 = "25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,cpu,cpuacct\n26 24 0:23 / /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory\n"

@Suite struct CgroupLayoutTests {
    @Test func hybridHostUsesV1ForEveryControllerItHas() {
        let l = CgroupLayout.parse(mountinfo: hybridMountinfo) { _ in "hugetlb\n" }
        #expect(l.placement(of: .memory) == .v1(mount: "/sys/fs/cgroup/memory"))
        #expect(l.placement(of: .cpu) == .v1(mount: "/sys/fs/cgroup/cpu"))
        #expect(l.placement(of: .cpuacct) == .v1(mount: "/sys/fs/cgroup/cpuacct"))
        #expect(l.placement(of: .pids) == .v1(mount: "/sys/fs/cgroup/pids"))
        #expect(l.v2 == "/sys/fs/cgroup/unified")
        #expect(!l.isPureV2)
    }

    @Test func controllersMovedToV2AreUsedThere() {
        let l = CgroupLayout.parse(mountinfo: hybridMountinfo) { _ in "cpu pids hugetlb\n" }
        #expect(l.placement(of: .pids) == .v2(mount: "/sys/fs/cgroup/unified"))
        #expect(l.placement(of: .cpu) == .v2(mount: "/sys/fs/cgroup/unified"))
        #expect(l.placement(of: .cpuacct) == .v2(mount: "/sys/fs/cgroup/unified"))
        #expect(l.placement(of: .memory) == .v1(mount: "/sys/fs/cgroup/memory"))
    }

    @Test func pureV2() {
        let l = CgroupLayout.parse(mountinfo: pureV2Mountinfo) { _ in "cpuset cpu io memory hugetlb pids rdma misc" }
        #expect(l.isPureV2)
        for c in Controller.allCases { #expect(l.placement(of: c) == .v2(mount: "/sys/fs/cgroup")) }
    }

    @Test func comountedV1Hierarchies() {
        let l = CgroupLayout.parse(mountinfo: comountedV1) { _ in nil }
        #expect(l.placement(of: .cpu) == .v1(mount: "/sys/fs/cgroup/cpu,cpuacct"))
        #expect(l.placement(of: .cpuacct) == .v1(mount: "/sys/fs/cgroup/cpu,cpuacct"))
        #expect(l.placement(of: .pids) == nil)
        #expect(l.v2 == nil)
    }
}

@Suite struct CgroupManagerTests {
    let limits = CgroupLimits(memoryBytes: 64 << 20, cpuQuotaMicros: 50_000, cpuShares: 512, pidsMax: 32)

    @Test func v1WritesAndJoinFiles() throws {
        let fs = FakeCgroupFS()
        fs.files["/sys/fs/cgroup/memory/skiff/c1/memory.memsw.limit_in_bytes"] = "max"
        let layout = CgroupLayout.parse(mountinfo: hybridMountinfo) { _ in "" }
        let cg = try makeCgroupManager(fs: fs, layout: layout).create("skiff/c1", limits: limits)
        let w = Dictionary(fs.writes, uniquingKeysWith: { $1 })
        #expect(w["/sys/fs/cgroup/memory/skiff/c1/memory.limit_in_bytes"] == "67108864")
        #expect(w["/sys/fs/cgroup/memory/skiff/c1/memory.memsw.limit_in_bytes"] == "67108864")
        #expect(w["/sys/fs/cgroup/cpu/skiff/c1/cpu.cfs_period_us"] == "100000")
        #expect(w["/sys/fs/cgroup/cpu/skiff/c1/cpu.cfs_quota_us"] == "50000")
        #expect(w["/sys/fs/cgroup/cpu/skiff/c1/cpu.shares"] == "512")
        #expect(w["/sys/fs/cgroup/pids/skiff/c1/pids.max"] == "32")
        // v1 hierarchies are joined through `tasks` (no threadgroup lock); the unified one via cgroup.procs.
        #expect(cg.joinFiles.contains("/sys/fs/cgroup/memory/skiff/c1/tasks"))
        #expect(cg.joinFiles.contains("/sys/fs/cgroup/unified/skiff/c1/cgroup.procs"))
        #expect(cg.oomEventsFile == "/sys/fs/cgroup/memory/skiff/c1/memory.oom_control")
        #expect(fs.dirs.contains("/sys/fs/cgroup/pids/skiff/c1"))
    }

    @Test func v2WritesEnableControllersAndConvertShares() throws {
        let fs = FakeCgroupFS()
        fs.files["/sys/fs/cgroup/skiff/c2/memory.swap.max"] = "max"
        let layout = CgroupLayout.parse(mountinfo: pureV2Mountinfo) { _ in "cpu memory pids" }
        let cg = try makeCgroupManager(fs: fs, layout: layout).create("skiff/c2", limits: limits)
        let w = Dictionary(fs.writes, uniquingKeysWith: { $1 })
        #expect(w["/sys/fs/cgroup/cgroup.subtree_control"] == "+memory +cpu +pids")
        #expect(w["/sys/fs/cgroup/skiff/cgroup.subtree_control"] == "+memory +cpu +pids")
        #expect(w["/sys/fs/cgroup/skiff/c2/memory.max"] == "67108864")
        #expect(w["/sys/fs/cgroup/skiff/c2/memory.swap.max"] == "0")
        #expect(w["/sys/fs/cgroup/skiff/c2/cpu.max"] == "50000 100000")
        #expect(w["/sys/fs/cgroup/skiff/c2/cpu.weight"] == String(CgroupConversions.weight(fromShares: 512)))
        #expect(w["/sys/fs/cgroup/skiff/c2/pids.max"] == "32")
        #expect(cg.joinFiles == ["/sys/fs/cgroup/skiff/c2/cgroup.procs"])
        #expect(cg.oomEventsFile == "/sys/fs/cgroup/skiff/c2/memory.events")
    }

    @Test func alreadyEnabledControllersAreNotWrittenAgain() throws {
        let fs = FakeCgroupFS()
        fs.files["/sys/fs/cgroup/cgroup.subtree_control"] = "cpu memory pids\n"
        let layout = CgroupLayout.parse(mountinfo: pureV2Mountinfo) { _ in "cpu memory pids" }
        _ = try makeCgroupManager(fs: fs, layout: layout).create("c3", limits: CgroupLimits())
        #expect(!fs.writes.contains { $0.0 == "/sys/fs/cgroup/cgroup.subtree_control" })
    }

    @Test func aFailingWriteRemovesWhatWasCreated() throws {
        let fs = FakeCgroupFS()
        fs.failWrite = "/sys/fs/cgroup/pids/skiff/c4/pids.max"
        let layout = CgroupLayout.parse(mountinfo: hybridMountinfo) { _ in "" }
        #expect(throws: CgroupError.self) { try makeCgroupManager(fs: fs, layout: layout).create("skiff/c4", limits: limits) }
        #expect(!fs.dirs.contains { $0.hasSuffix("/c4") })
        // Shared parents stay.
        #expect(fs.dirs.contains("/sys/fs/cgroup/pids/skiff"))
    }

    @Test func removeKillsLeftoversThenRetries() throws {
        let fs = FakeCgroupFS()
        let layout = CgroupLayout.parse(mountinfo: pureV2Mountinfo) { _ in "pids" }
        let manager = try makeCgroupManager(fs: fs, layout: layout)
        _ = try manager.create("c5", limits: CgroupLimits())
        fs.files["/sys/fs/cgroup/c5/cgroup.kill"] = "0"
        fs.busyUntilKilled = ["/sys/fs/cgroup/c5"]
        try manager.remove("c5")
        #expect(fs.writes.contains { $0 == ("/sys/fs/cgroup/c5/cgroup.kill", "1") })
        #expect(!fs.dirs.contains("/sys/fs/cgroup/c5"))
    }

    @Test func invalidPathsAreRefused() throws {
        let manager = try makeCgroupManager(fs: FakeCgroupFS(), layout: CgroupLayout.parse(mountinfo: pureV2Mountinfo) { _ in "" })
        for bad in ["", "../x", "a/../../b", "./a"] {
            #expect(throws: CgroupError.self) { try manager.create(bad, limits: CgroupLimits()) }
        }
    }

    @Test(arguments: [(UInt64(2), UInt64(1)), (1024, 39), (262_144, 10_000), (0, 1), (1_000_000, 10_000)])
    func sharesToWeight(shares: UInt64, weight: UInt64) {
        #expect(CgroupConversions.weight(fromShares: shares) == weight)
    }

    @Test func kubeletCPUConversions() {
        #expect(CgroupConversions.quota(milliCPU: 500) == 50_000)
        #expect(CgroupConversions.quota(milliCPU: 1) == 1000)   // the kubelet's 1 ms floor
        #expect(CgroupConversions.shares(milliCPU: 1000) == 1024)
        #expect(CgroupConversions.shares(milliCPU: 0) == 2)
    }

    @Test func statsFromV1Files() throws {
        let fs = FakeCgroupFS()
        let layout = CgroupLayout.parse(mountinfo: hybridMountinfo) { _ in "" }
        let cg = try makeCgroupManager(fs: fs, layout: layout).open("c6")
        fs.files["/sys/fs/cgroup/memory/c6/memory.stat"] = "cache 10\ntotal_inactive_file 4096\n"
        fs.files["/sys/fs/cgroup/memory/c6/memory.usage_in_bytes"] = "10000\n"
        fs.files["/sys/fs/cgroup/memory/c6/memory.oom_control"] = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
        fs.files["/sys/fs/cgroup/cpu/c6/cpu.stat"] = "nr_periods 10\nnr_throttled 3\nthrottled_time 500\n"
        fs.files["/sys/fs/cgroup/cpuacct/c6/cpuacct.usage"] = "123456\n"
        fs.files["/sys/fs/cgroup/pids/c6/pids.current"] = "4\n"
        let s = try cg.stats()
        #expect(s == CgroupStats(memoryUsageBytes: 10000, memoryWorkingSetBytes: 5904, oomKills: 2, cpuUsageNanos: 123456,
                                 throttledPeriods: 3, throttledNanos: 500, pidsCurrent: 4))
    }

    @Test func memoryAndCPUSplitsFromV1AndV2Files() throws {
        let v1 = FakeCgroupFS()
        let hybrid = CgroupLayout.parse(mountinfo: hybridMountinfo) { _ in "" }
        v1.files["/sys/fs/cgroup/memory/c7/memory.stat"] = "cache 10\nrss 5\ntotal_cache 4096\ntotal_rss 8192\ntotal_inactive_file 0\n"
        v1.files["/sys/fs/cgroup/memory/c7/memory.usage_in_bytes"] = "12288\n"
        v1.files["/sys/fs/cgroup/memory/c7/memory.oom_control"] = "oom_kill 0\n"
        v1.files["/sys/fs/cgroup/cpu/c7/cpu.stat"] = "nr_throttled 0\nthrottled_time 0\n"
        v1.files["/sys/fs/cgroup/cpuacct/c7/cpuacct.usage"] = "3000000000\n"
        v1.files["/sys/fs/cgroup/cpuacct/c7/cpuacct.stat"] = "user 150\nsystem 50\n"
        v1.files["/sys/fs/cgroup/pids/c7/pids.current"] = "1\n"
        let a = try makeCgroupManager(fs: v1, layout: hybrid).open("c7").stats()
        #expect(a.memoryRSSBytes == 8192 && a.memoryCacheBytes == 4096, "the hierarchical totals")
        let tick = 1_000_000_000 / Int64(sysconf(Int32(_SC_CLK_TCK)))
        #expect(a.cpuUserNanos == 150 * tick && a.cpuSystemNanos == 50 * tick)

        let v2 = FakeCgroupFS()
        let pure = CgroupLayout.parse(mountinfo: pureV2Mountinfo) { _ in "cpu memory pids" }
        v2.files["/sys/fs/cgroup/c8/memory.stat"] = "anon 7000\nfile 3000\ninactive_file 1000\n"
        v2.files["/sys/fs/cgroup/c8/memory.current"] = "10000\n"
        v2.files["/sys/fs/cgroup/c8/memory.events"] = "oom_kill 1\n"
        v2.files["/sys/fs/cgroup/c8/cpu.stat"] = "usage_usec 900\nuser_usec 600\nsystem_usec 300\nnr_throttled 2\nthrottled_usec 40\n"
        v2.files["/sys/fs/cgroup/c8/pids.current"] = "3\n"
        let b = try makeCgroupManager(fs: v2, layout: pure).open("c8").stats()
        #expect(b == CgroupStats(memoryUsageBytes: 10000, memoryWorkingSetBytes: 9000, oomKills: 1, cpuUsageNanos: 900_000, throttledPeriods: 2,
                                 throttledNanos: 40_000, pidsCurrent: 3, memoryRSSBytes: 7000, memoryCacheBytes: 3000,
                                 cpuUserNanos: 600_000, cpuSystemNanos: 300_000))
    }

    @Test func limitsReadBack() {
        let v1 = FakeCgroupFS()
        let hybrid = CgroupLayout.parse(mountinfo: hybridMountinfo) { _ in "" }
        v1.files["/sys/fs/cgroup/memory/c9/memory.limit_in_bytes"] = "67108864\n"
        v1.files["/sys/fs/cgroup/cpu/c9/cpu.cfs_quota_us"] = "50000\n"
        v1.files["/sys/fs/cgroup/cpu/c9/cpu.cfs_period_us"] = "100000\n"
        v1.files["/sys/fs/cgroup/cpu/c9/cpu.shares"] = "512\n"
        #expect((try? makeCgroupManager(fs: v1, layout: hybrid).open("c9").spec())
            == CgroupSpec(memoryLimitBytes: 67_108_864, cpuQuotaMicros: 50_000, cpuPeriodMicros: 100_000, cpuShares: 512))
        // Unlimited: v1's page-rounded 2^63-1 and a quota of -1.
        v1.files["/sys/fs/cgroup/memory/c9/memory.limit_in_bytes"] = "9223372036854771712\n"
        v1.files["/sys/fs/cgroup/cpu/c9/cpu.cfs_quota_us"] = "-1\n"
        #expect((try? makeCgroupManager(fs: v1, layout: hybrid).open("c9").spec())
            == CgroupSpec(memoryLimitBytes: nil, cpuQuotaMicros: nil, cpuPeriodMicros: 100_000, cpuShares: 512))

        let v2 = FakeCgroupFS()
        let pure = CgroupLayout.parse(mountinfo: pureV2Mountinfo) { _ in "cpu memory pids" }
        v2.files["/sys/fs/cgroup/c10/memory.max"] = "max\n"
        v2.files["/sys/fs/cgroup/c10/cpu.max"] = "25000 100000\n"
        v2.files["/sys/fs/cgroup/c10/cpu.weight"] = String(CgroupConversions.weight(fromShares: 1024))
        let spec = try? makeCgroupManager(fs: v2, layout: pure).open("c10").spec()
        #expect(spec?.memoryLimitBytes == nil && spec?.cpuQuotaMicros == 25_000 && spec?.cpuPeriodMicros == 100_000)
        // The weight maps back to about the shares it came from (both conversions round down).
        #expect(spec?.cpuShares.map { abs($0 - 1024) < 30 } == true, "\(String(describing: spec))")
        // No quota on v2 is "max".
        v2.files["/sys/fs/cgroup/c10/cpu.max"] = "max 100000\n"
        #expect((try? makeCgroupManager(fs: v2, layout: pure).open("c10").spec())?.cpuQuotaMicros == nil)
    }
}
