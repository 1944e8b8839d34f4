// Real cgroups on this host. Root only; CI runs as root.
import Foundation
import Testing
import TestSupport
@testable import Cgroups

@Suite(.enabled(if: TestEnv.isRoot, "needs root: creates cgroups"), .serialized)
struct CgroupRootTests {
    /// A sleeping child process for a cgroup to hold.
    func sleeper() throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = ["30"]
        try p.run()
        return p
    }

    func parentName() -> String { TestEnv.uniqueName("skiff-cgtest") }

    func removeParent(_ layout: CgroupLayout, _ parent: String) {
        var mounts = Set(layout.v1.values)
        if let v2 = layout.v2 { mounts.insert(v2) }
        for m in mounts { rmdir("\(m)/\(parent)") }
    }

    @Test func hostLayoutCreatesLimitsJoinsStatsAndRemoves() throws {
        let layout = try CgroupLayout.detect()
        let parent = parentName()
        defer { removeParent(layout, parent) }
        let manager = try makeCgroupManager(layout: layout)
        let limits = CgroupLimits(memoryBytes: 48 << 20, cpuQuotaMicros: 25_000, cpuShares: 256, pidsMax: 7)
        let cg = try manager.create("\(parent)/c", limits: limits)
        let fs = RealCgroupFS()
        if let d = cg.dir(.memory) {
            let file = cg.isV2(.memory) ? "/memory.max" : "/memory.limit_in_bytes"
            #expect(try fs.read(d + file).trimmed == "\(48 << 20)")
        }
        if let d = cg.dir(.pids) { #expect(try fs.read(d + "/pids.max").trimmed == "7") }
        if let d = cg.dir(.cpu), !cg.isV2(.cpu) { #expect(try fs.read(d + "/cpu.cfs_quota_us").trimmed == "25000") }

        let child = try sleeper()
        defer { if child.isRunning { child.terminate() } }
        for file in cg.joinFiles { try fs.write(file, String(child.processIdentifier)) }
        #expect(try cg.pids() == [child.processIdentifier])
        let stats = try cg.stats()
        #expect(stats.pidsCurrent == 1)   // (v1 memory charges don't follow a moved task: usage may be 0)

        // Removal kills what is left inside, then the directories go.
        try manager.remove("\(parent)/c")
        child.waitUntilExit()
        #expect(child.terminationReason == .uncaughtSignal)
        for dir in cg.directories { #expect(!fs.exists(dir), "\(dir) still exists") }
    }

    /// The v2 code path on the unified hierarchy, with the kernel's real cgroup2 semantics
    /// (cgroup.procs, cgroup.kill, subtree_control). This sandbox's PID 1 holds the v1 cpu/pids
    /// hierarchies open, so those controllers can't be moved to v2 here (umount: busy); their v2
    /// file writes are covered against the fake filesystem.
    @Test func unifiedHierarchyAsPureV2() throws {
        let host = try CgroupLayout.detect()
        guard let v2 = host.v2 else { Issue.record("no cgroup2 mount on this host"); return }
        let controllers = (try? RealCgroupFS().read(v2 + "/cgroup.controllers")) ?? ""
        let layout = CgroupLayout(v1: [:], v2: v2,
                                  v2Controllers: Set(controllers.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)))
        #expect(layout.isPureV2)
        let parent = parentName()
        defer { removeParent(layout, parent) }
        let manager = try makeCgroupManager(layout: layout)
        let cg = try manager.create("\(parent)/c", limits: CgroupLimits(pidsMax: layout.v2Controllers.contains("pids") ? 5 : nil))
        #expect(cg.joinFiles == ["\(v2)/\(parent)/c/cgroup.procs"])
        let child = try sleeper()
        defer { if child.isRunning { child.terminate() } }
        try RealCgroupFS().write(cg.joinFiles[0], String(child.processIdentifier))
        #expect(try cg.pids() == [child.processIdentifier])
        // A populated v2 cgroup can't be removed: remove() must kill (cgroup.kill) and retry.
        try manager.remove("\(parent)/c")
        child.waitUntilExit()
        #expect(child.terminationReason == .uncaughtSignal)
        #expect(!RealCgroupFS().exists("\(v2)/\(parent)/c"))
    }

    @Test func failingLimitLeavesNothing() throws {
        let layout = try CgroupLayout.detect()
        guard layout.placement(of: .pids) != nil else { return }
        let parent = parentName()
        defer { removeParent(layout, parent) }
        let manager = try makeCgroupManager(layout: layout)
        // pids.max rejects negative numbers: the create fails and cleans up.
        #expect(throws: CgroupError.self) { try manager.create("\(parent)/bad", limits: CgroupLimits(pidsMax: -5)) }
        for dir in manager.open("\(parent)/bad").directories { #expect(!RealCgroupFS().exists(dir)) }
    }
}
