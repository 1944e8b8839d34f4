// End-to-end tests of `skiff run` as a user runs it: the real binary, real namespaces, cgroups,
// overlay mounts and seccomp. Root only (CI runs as root).
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A private skiff state root with the busybox image imported, and a private cgroup parent.
final class SkiffFixture {
    let root: String
    let cgroupParent: String
    let skiff = TestEnv.binDir + "/skiff"

    init() throws {
        root = try TestEnv.makeTempDir("skiff-root")
        cgroupParent = TestEnv.uniqueName("skiff-test")
        let imported = try cli(["image", "import", try TestEnv.busyboxImageLayout(), "--tag", "busybox:latest"])
        guard imported.status == 0 else { throw TestSupportError("image import failed: \(imported.stderr)") }
    }

    /// Runs `skiff <args>` with this fixture's root and cgroup parent.
    @discardableResult
    func cli(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        var full = [skiff] + args.prefix(1)
        if let first = args.first, first != "image" {
            full += ["--root", root, "--cgroup-parent", cgroupParent]
            full += args.dropFirst()
        } else {
            full += args.dropFirst().prefix(1) + ["--root", root] + args.dropFirst(2)
        }
        return try TestEnv.capture(full)
    }

    /// `skiff run --rm busybox sh -c SCRIPT` with extra run flags.
    func sh(_ script: String, flags: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        try cli(["run", "--rm"] + flags + ["busybox", "sh", "-c", script])
    }

    var containerDirs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root + "/containers")) ?? []).filter { $0.count == 64 }
    }

    /// Mounts under this fixture's root still present.
    /// Our mounts. mountinfo is not read atomically: while other tests mount and unmount, a read
    /// can skip entries, so the most found in three reads counts.
    var mounts: [String] {
        var best: [String] = []
        for _ in 0..<3 {
            let text = TestEnv.mountinfo()
            let found = text.split(separator: "\n").compactMap { line -> String? in
                let f = line.split(separator: " ")
                return f.count > 4 && f[4].hasPrefix(root) ? String(f[4]) : nil
            }
            if found.count > best.count { best = found }
        }
        return best
    }

    /// Cgroup directories left under our parent in any hierarchy.
    var cgroupLeftovers: [String] {
        var found: [String] = []
        for base in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            let dir = "/sys/fs/cgroup/\(base)/\(cgroupParent)"
            let children = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            found += children.filter { $0.count == 64 }.map { dir + "/" + $0 }
        }
        return found
    }

    deinit {
        for id in containerDirs { _ = try? cli(["rm", "-f", id]) }
        for m in mounts.reversed() { umount2(m, Int32(MNT_DETACH)) }
        for base in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            rmdir("/sys/fs/cgroup/\(base)/\(cgroupParent)")
        }
        try? FileManager.default.removeItem(atPath: root)
    }
}

@Suite(.enabled(if: TestEnv.isRoot, "needs root: namespaces, mounts, cgroups"))
struct SkiffRunTests {
    @Test func isolationFromInside() throws {
        let f = try SkiffFixture()
        let r = try f.sh("""
            echo pid1=$(cat /proc/1/cmdline | tr '\\0' ' ')
            echo procs=$(ls /proc | grep -c '^[0-9]')
            echo host=$(hostname)
            echo links=$(ls /sys/class/net | tr '\\n' ' ')
            grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status
            """, flags: ["--hostname", "box1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("pid1=sh -c"))
        // sh, the command substitution subshell and ls/grep: a handful, never the host's hundreds.
        let procs = Int(r.stdout.split(separator: "\n").first { $0.hasPrefix("procs=") }?.dropFirst(6) ?? "") ?? 999
        #expect(procs < 8)
        #expect(r.stdout.contains("host=box1"))
        #expect(r.stdout.contains("links=lo \n") || r.stdout.contains("links=lo\n"))
        #expect(r.stdout.contains("CapEff:\t00000000a80425fb"))
        #expect(r.stdout.contains("CapBnd:\t00000000a80425fb"))
        #expect(r.stdout.contains("Seccomp:\t2"))
    }

    @Test func seccompAndCapabilitiesDenyEscapes() throws {
        let f = try SkiffFixture()
        let r = try f.sh("""
            mount -t tmpfs none /tmp 2>/dev/null && echo MOUNTED
            unshare -n true 2>/dev/null && echo UNSHARED
            cat /proc/kcore >/dev/null 2>&1 && echo KCORE
            head -c1 /proc/keys 2>/dev/null | grep -q . && echo KEYS
            echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo PROCSYS
            touch /sys/kernel/x 2>/dev/null && echo SYSFS
            echo done
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "done\n")
    }

    @Test func privilegedLiftsRestrictions() throws {
        let f = try SkiffFixture()
        let r = try f.sh("grep -E '^(CapEff|Seccomp):' /proc/self/status; mount -t tmpfs none /tmp && echo MOUNTED", flags: ["--privileged"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Seccomp:\t0"))
        #expect(r.stdout.contains("MOUNTED"))
        #expect(!r.stdout.contains("CapEff:\t00000000a80425fb"))
    }

    @Test func readOnlyRootfs() throws {
        let f = try SkiffFixture()
        let r = try f.sh("touch /x 2>/dev/null && echo WROTE; touch /tmp/x 2>/dev/null && echo TMP; echo ok", flags: ["--read-only"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains("WROTE"))
        #expect(r.stdout.hasSuffix("ok\n"))
    }

    @Test func exitCodesPropagate() throws {
        let f = try SkiffFixture()
        #expect(try f.sh("exit 7").status == 7)
        // The shell is pid 1 and immune to its own SIGKILL; a child killed by it propagates.
        #expect(try f.sh("sh -c 'kill -9 $$'; exit $?").status == 137)
        #expect(try f.sh("true").status == 0)
        let missing = try f.cli(["run", "--rm", "busybox", "/no/such/binary"])
        #expect(missing.status == 127)
        #expect(missing.stderr.contains("/no/such/binary"))
    }

    @Test func userWorkdirAndEnv() throws {
        let f = try SkiffFixture()
        let r = try f.sh("id -u; id -g; pwd; echo $GREETING; echo $PATH",
                         flags: ["--user", "65534:65534", "--workdir", "/tmp", "--env", "GREETING=hi there"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "65534\n65534\n/tmp\nhi there\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
        let caps = try f.sh("grep CapEff /proc/self/status", flags: ["--user", "65534"])
        #expect(caps.stdout.contains("CapEff:\t0000000000000000"))
    }

    @Test func memoryLimitOOMKills() throws {
        let f = try SkiffFixture()
        // dd is the container's init and needs a 128 MiB buffer: the OOM killer takes it.
        let r = try f.cli(["run", "--name", "oom", "--memory", "32Mi", "busybox",
                           "dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"])
        #expect(r.status == 137, "\(r.stdout) \(r.stderr)")
        let ps = try f.cli(["ps"])
        #expect(ps.stdout.contains("OOMKilled"), "\(ps.stdout)")
        #expect(try f.cli(["rm", "oom"]).status == 0)
    }

    @Test func pidsLimitStopsForkBomb() throws {
        let f = try SkiffFixture()
        let bomb = "for i in $(seq 1 40); do sleep 2 & done; wait; echo all-forked"
        let limited = try f.sh(bomb, flags: ["--pids", "16"])
        #expect(limited.status != 0)
        #expect(limited.stderr.contains("can't fork"), "\(limited.stderr)")
        #expect(!limited.stdout.contains("all-forked"))
        // The same script under a roomier limit forks everything: it was the limit that stopped it.
        let roomy = try f.sh(bomb, flags: ["--pids", "64"])
        #expect(roomy.stdout.contains("all-forked"), "\(roomy.stderr)")
    }

    @Test func cpuQuotaThrottles() throws {
        let f = try SkiffFixture()
        // At 0.2 CPUs a busy loop gets about 0.2 s of CPU per second of wall time, never 1 s.
        // The rate is taken over a measured window, not since start: on a loaded CI machine
        // `run -d` itself can take seconds, and the loop spends them running.
        let d = try f.cli(["run", "-d", "--name", "spin", "--cpus", "0.2", "busybox", "sh", "-c", "while :; do :; done"])
        #expect(d.status == 0, "\(d.stderr)")
        let id = d.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let before = try cpuUsageSeconds(parent: f.cgroupParent, id: id), start = Date()
        Thread.sleep(forTimeInterval: 1.5)
        let after = try cpuUsageSeconds(parent: f.cgroupParent, id: id)
        let window = Date().timeIntervalSince(start), rate = (after - before) / window
        try f.cli(["rm", "-f", "spin"])
        #expect(rate > 0.02 && rate < 0.4, "cpu usage \(after - before) s in \(window) s at 0.2 CPUs")
    }

    @Test func imageLayersUntouchedByWrites() throws {
        let f = try SkiffFixture()
        let w = try f.sh("echo new > /bin/newfile; rm /bin/ls; echo extra >> /etc/passwd; echo ok")
        #expect(w.stdout == "ok\n", "\(w.stderr)")
        let r = try f.sh("ls /bin/newfile 2>&1; ls /bin/ls; grep -c extra /etc/passwd")
        #expect(r.stdout.contains("No such file"))
        #expect(r.stdout.contains("/bin/ls"))
        #expect(r.stdout.hasSuffix("0\n"))
        // And the unpacked layer on disk is pristine.
        let layers = try FileManager.default.subpathsOfDirectory(atPath: f.root + "/images").filter { $0.hasSuffix("/bin/ls") }
        #expect(!layers.isEmpty)
    }

    @Test func detachedContainerOutlivesLauncherAndIsFoundAgain() throws {
        let f = try SkiffFixture()
        // As pid 1 the shell ignores SIGTERM unless it traps it (the kernel's init protection).
        let d = try f.cli(["run", "-d", "--name", "bg", "busybox", "sh", "-c",
                           "trap 'exit 143' TERM; echo started; echo oops >&2; sleep 30 & wait"])
        #expect(d.status == 0, "\(d.stderr)")
        // The launcher has exited; a new skiff process sees the container running.
        var ps = try f.cli(["ps"])
        #expect(ps.stdout.contains("bg") && ps.stdout.contains("Running"), "\(ps.stdout)")
        Thread.sleep(forTimeInterval: 0.3)
        let logs = try f.cli(["logs", "bg"])
        #expect(logs.stdout == "started\n")
        #expect(logs.stderr == "oops\n")
        // A running container is not removed without --force.
        #expect(try f.cli(["rm", "bg"]).status != 0)
        #expect(try f.cli(["kill", "-s", "TERM", "bg"]).status == 0)
        Thread.sleep(forTimeInterval: 0.5)
        ps = try f.cli(["ps"])
        #expect(ps.stdout.contains("Exited (143)"), "\(ps.stdout)")
        #expect(try f.cli(["rm", "bg"]).status == 0)
        #expect(f.containerDirs.isEmpty)
        #expect(f.mounts.isEmpty)
        #expect(f.cgroupLeftovers.isEmpty)
    }

    @Test func logsFollowUntilTheContainerExits() throws {
        let f = try SkiffFixture()
        let d = try f.cli(["run", "-d", "--name", "talker", "busybox", "sh", "-c",
                           "for i in 1 2 3 4 5; do echo line$i; sleep 0.1; done; echo bye >&2"])
        #expect(d.status == 0, "\(d.stderr)")
        // Started while the container still writes; returns once it has exited and the log is drained.
        let logs = try f.cli(["logs", "-f", "talker"])
        #expect(logs.status == 0)
        #expect(logs.stdout == "line1\nline2\nline3\nline4\nline5\n")
        #expect(logs.stderr == "bye\n")
        let stamped = try f.cli(["logs", "-t", "talker"])
        #expect(stamped.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix("20") && $0.contains("Z line") })
        #expect(try f.cli(["rm", "talker"]).status == 0)
    }

    @Test func pruneKeepsLayersOfExistingContainers() throws {
        let f = try SkiffFixture()
        let d = try f.cli(["run", "-d", "--name", "user", "busybox", "sleep", "30"])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(try f.cli(["image", "rm", "busybox"]).status == 0)
        #expect(try f.cli(["image", "prune"]).status == 0)
        // The running container still sees its root filesystem.
        #expect(FileManager.default.fileExists(atPath: f.root + "/containers/" + d.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + "/rootfs/bin/busybox"))
        #expect(try f.cli(["rm", "-f", "user"]).status == 0)
        let pruned = try f.cli(["image", "prune"])
        #expect(pruned.stdout.contains("1 layers"), "\(pruned.stdout)")
    }

    @Test func nothingLeaksAfterRmOrRunRm() throws {
        let f = try SkiffFixture()
        #expect(try f.sh("echo hi").stdout == "hi\n")
        let d = try f.cli(["run", "-d", "busybox", "sleep", "30"])
        #expect(d.status == 0)
        #expect(f.mounts.count == 1)
        #expect(!f.cgroupLeftovers.isEmpty)
        #expect(try f.cli(["rm", "-f", String(d.stdout.prefix(12))]).status == 0)
        #expect(f.containerDirs.isEmpty)
        #expect(f.mounts.isEmpty)
        #expect(f.cgroupLeftovers.isEmpty)
    }

    static let badInputs: [([String], String)] = [
        (["run", "--rm", "nosuchimage"], "nosuchimage"),
        (["run", "--rm", "--memory", "lots", "busybox", "true"], "--memory"),
        (["run", "--rm", "--cpus", "-1", "busybox", "true"], "--cpus"),
        (["run", "--rm", "--rootfs", "/no/such/dir", "--", "/bin/true"], "/no/such/dir"),
        (["run", "--rm", "--bogus-flag", "busybox", "true"], "bogus-flag"),
        (["run", "--rm", "--user", "ghost", "busybox", "true"], "ghost"),
        (["kill", "nosuchcontainer"], "nosuchcontainer"),
    ]

    @Test(arguments: badInputs)
    func badInputIsOneClearLineAndLeavesNothing(args: [String], mention: String) throws {
        let f = try SkiffFixture()
        let r = try f.cli(args)
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(r.stderr)")
        #expect(r.stderr.contains(mention), "stderr: \(r.stderr)")
        #expect(f.containerDirs.isEmpty)
        #expect(f.mounts.isEmpty)
        #expect(f.cgroupLeftovers.isEmpty)
    }
}

/// CPU seconds the container's cgroup has used (v1 cpuacct or v2 cpu.stat).
func cpuUsageSeconds(parent: String, id: String) throws -> Double {
    let v1 = "/sys/fs/cgroup/cpuacct/\(parent)/\(id)/cpuacct.usage"
    if let text = try? String(contentsOfFile: v1, encoding: .utf8), let ns = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
        return ns / 1e9
    }
    for base in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
        if let text = try? String(contentsOfFile: "\(base)/\(parent)/\(id)/cpu.stat", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("usage_usec ") }),
           let us = Double(line.split(separator: " ")[1]) {
            return us / 1e6
        }
    }
    throw TestSupportError("no cpu accounting file for \(parent)/\(id)")
}
