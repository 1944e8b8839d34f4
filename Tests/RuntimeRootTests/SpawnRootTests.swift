import Foundation
import Testing
import TestSupport
@testable import Runtime

/// Real containers through the real skiff-monitor binary, checked from inside and outside.
@Suite(.enabled(if: TestEnv.isRoot), .serialized) struct SpawnRootTests {
    static let defaultCaps: UInt64 = 0xa80425fb   // Docker's default set

    let dir: String
    let rootfs: String
    let monitor = TestEnv.binDir + "/skiff-monitor"

    init() throws {
        dir = try TestEnv.makeTempDir("spawn-root")
        rootfs = dir + "/rootfs"
        try FileManager.default.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
        // Test-only shortcut: the busybox image has one layer, the largest blob.
        let blobs = try TestEnv.busyboxImageLayout() + "/blobs/sha256"
        let layer = try FileManager.default.contentsOfDirectory(atPath: blobs).map { blobs + "/" + $0 }
            .max { ((try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) ?? 0) < ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
        guard let layer else { throw TestSupportError("no layer blob in \(blobs)") }
        let status = try TestEnv.run(["/bin/tar", "-xzf", layer, "-C", rootfs])
        guard status == 0 else { throw TestSupportError("tar -xzf \(layer) failed (\(status))") }
        guard FileManager.default.isExecutableFile(atPath: monitor) else {
            throw TestSupportError("skiff-monitor not built at \(monitor)")
        }
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: dir) }

    func config(_ args: [String]) -> SpawnConfig {
        var c = SpawnConfig()
        c.rootfs = rootfs
        c.args = args
        c.env = ["PATH=/bin:/usr/bin", "HOME=/root"]
        c.hostname = "skiff-box"
        c.namespaces = ["mnt", "pid", "uts", "ipc", "net"].map { .init(type: $0, path: nil) }
        c.mounts = LinuxDefaults.mounts(privileged: false)
        c.devices = LinuxDefaults.devices
        c.symlinks = LinuxDefaults.symlinks
        c.maskedPaths = LinuxDefaults.maskedPaths
        c.readonlyPaths = LinuxDefaults.readonlyPaths
        let caps = Self.defaultCaps
        c.capabilities = .init(bounding: caps, effective: caps, permitted: caps, inheritable: 0, ambient: 0)
        c.logPath = dir + "/ctr.log"
        c.exitFile = dir + "/exit.json"
        c.pidFile = dir + "/init.pid"
        return c
    }

    /// Runs in the foreground: the monitor copies output to its stdout/stderr and exits with the code.
    func run(_ c: SpawnConfig) throws -> (status: Int32, stdout: String, stderr: String) {
        var c = c
        c.foreground = true
        let file = dir + "/" + TestEnv.uniqueName("spawn")
        try c.write(to: file)
        return try TestEnv.capture([monitor, file])
    }

    func exitRecord() throws -> ExitRecord {
        try JSONDecoder().decode(ExitRecord.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/exit.json")))
    }

    @Test func isolatedPidUtsNetAndCaps() throws {
        defer { cleanup() }
        let r = try run(config(["sh", "-c", """
            echo pid1=$(tr '\\0\\n' '  ' < /proc/1/cmdline | cut -c1-5)
            echo procs=$(ls /proc | grep -c '^[0-9]')
            hostname
            tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '
            grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status
            """]))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("pid1=sh -c"), "\(r.stdout)")
        // sh, its subshell, ls and grep at most: no host processes.
        let procs = lines.first { $0.hasPrefix("procs=") }.flatMap { Int($0.dropFirst(6)) } ?? 99
        #expect(procs <= 4, "\(r.stdout)")
        #expect(lines.contains("skiff-box"))
        #expect(lines.contains("lo"))
        #expect(!lines.contains { $0.hasPrefix("eth") || $0.hasPrefix("en") || $0.hasPrefix("veth") }, "\(r.stdout)")
        #expect(lines.contains("CapEff:\t00000000a80425fb"), "\(r.stdout)")
        #expect(lines.contains("CapBnd:\t00000000a80425fb"), "\(r.stdout)")
        #expect(lines.contains("Seccomp:\t0"))
        let exit = try exitRecord()
        #expect(exit.exitCode == 0 && exit.signal == 0 && !exit.oomKilled)
        #expect(exit.startedAt.hasSuffix("Z") && exit.startedAt <= exit.finishedAt)
    }

    @Test func seccompFilterDeniesMount() throws {
        defer { cleanup() }
        // Raw BPF: load the syscall number; mount → ERRNO(EPERM); everything else allowed.
        #if arch(x86_64)
        let mountNr: UInt32 = 165
        #else
        let mountNr: UInt32 = 40
        #endif
        var bpf: [UInt8] = []
        func insn(_ code: UInt16, _ jt: UInt8, _ jf: UInt8, _ k: UInt32) {
            withUnsafeBytes(of: code.littleEndian) { bpf += $0 }
            bpf += [jt, jf]
            withUnsafeBytes(of: k.littleEndian) { bpf += $0 }
        }
        insn(0x20, 0, 0, 0)                 // ld [nr]
        insn(0x15, 0, 1, mountNr)           // jeq mount
        insn(0x06, 0, 0, 0x0005_0000 | 1)   // ret ERRNO(EPERM)
        insn(0x06, 0, 0, 0x7fff_0000)       // ret ALLOW
        let filter = dir + "/filter.bpf"
        try Data(bpf).write(to: URL(fileURLWithPath: filter))
        var c = config(["sh", "-c", "grep Seccomp: /proc/self/status; mkdir -p /tmp/m; mount -t tmpfs t /tmp/m; echo rc=$?"])
        // Every capability we hold (SYS_ADMIN included): only seccomp can refuse the mount.
        let held = try String(contentsOfFile: "/proc/self/status", encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("CapBnd:") }.flatMap { UInt64($0.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) }
        let all = try #require(held)
        #expect(all & (1 << 21) != 0, "test needs CAP_SYS_ADMIN")
        c.capabilities = .init(bounding: all, effective: all, permitted: all, inheritable: 0, ambient: 0)
        c.seccompPath = filter
        for nnp in [false, true] {
            c.noNewPrivileges = nnp
            let r = try run(c)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("Seccomp:\t2"), "\(r.stdout)")
            #expect(r.stdout.contains("rc=") && !r.stdout.contains("rc=0"), "mount allowed: \(r.stdout)")
            #expect(r.stderr.contains("permission denied"), "\(r.stderr)")
        }
        // Control: the same container without the filter may mount, so the filter made the difference.
        c.seccompPath = nil
        let control = try run(c)
        #expect(control.stdout.contains("Seccomp:\t0") && control.stdout.contains("rc=0"), "\(control.stdout) \(control.stderr)")
    }

    @Test func maskedReadonlyPathsAndReadonlyRootfs() throws {
        defer { cleanup() }
        var c = config(["sh", "-c", """
            echo kcore=$(cat /proc/kcore | wc -c)
            ls /proc/scsi 2>/dev/null | wc -l | sed 's/^/scsi=/'
            echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo sys=rw || echo sys=ro
            touch /newfile 2>/dev/null && echo root=rw || echo root=ro
            echo x > /dev/shm/ok && echo shm=rw
            """])
        c.readonlyRootfs = true
        let r = try run(c)
        #expect(r.status == 0, "\(r.stderr)")
        for want in ["kcore=0", "sys=ro", "root=ro", "shm=rw"] { #expect(r.stdout.contains(want), "\(want): \(r.stdout)") }
        #expect(!FileManager.default.fileExists(atPath: rootfs + "/newfile"))
    }

    @Test func exitCodesAndSignals() throws {
        defer { cleanup() }
        #expect(try run(config(["sh", "-c", "exit 7"])).status == 7)
        #expect(try exitRecord().exitCode == 7)
        // The shell exits with its child's status: 128+9 for a SIGKILLed child.
        #expect(try run(config(["sh", "-c", "sleep 30 & kill -9 $!; wait $!"])).status == 137)
    }

    @Test func execNotFoundIsReported() throws {
        defer { cleanup() }
        let r = try run(config(["no-such-command"]))
        #expect(r.status == 127)
        #expect(r.stderr.contains("skiff: exec:") && r.stderr.contains("No such file"), "\(r.stderr)")
        let file = dir + "/detached.spawn"
        try config(["/nope"]).write(to: file)
        do {
            _ = try MonitorLauncher.startDetached(monitor: monitor, spawnFile: file)
            Issue.record("starting a missing executable succeeded")
        } catch let e as SpawnError {
            #expect(e.stage == "exec" && e.errno == ENOENT, "\(e)")
        }
    }

    @Test func rlimitsAreClampedToTheHardLimit() throws {
        defer { cleanup() }
        var lim = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        var c = config(["sh", "-c", "ulimit -n; ulimit -H -n"])
        c.rlimits = [.init(resource: Int32(RLIMIT_NOFILE.rawValue), soft: 1 << 40, hard: 1 << 40)]
        let r = try run(c)
        #expect(r.status == 0, "\(r.stderr)")
        let want = lim.rlim_max == rlim_t.max ? "unlimited" : String(lim.rlim_max)
        #expect(r.stdout == "\(want)\n\(want)\n", "\(r.stdout)")
    }

    @Test func criLogHasStreamsAndPartialLines() throws {
        defer { cleanup() }
        let r = try run(config(["sh", "-c", "echo out; echo err >&2; head -c 20000 /dev/zero | tr '\\0' a; echo; printf tail"]))
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("out\n") && r.stdout.hasSuffix("tail"))
        let log = try String(contentsOfFile: dir + "/ctr.log", encoding: .utf8)
        let lines = log.split(separator: "\n").map(String.init)
        let parsed = lines.map { $0.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init) }
        #expect(parsed.allSatisfy { $0.count == 4 && $0[0].hasSuffix("Z") && $0[0].count == 30 }, "\(log.prefix(300))")
        let records = parsed.map { "\($0[1]) \($0[2]) \($0[3].count > 40 ? "<\($0[3].count)>" : $0[3])" }
        #expect(records.contains("stdout F out"))
        #expect(records.contains("stderr F err"))
        #expect(records.contains("stdout P <16384>"), "\(records)")
        #expect(records.contains("stdout F <3616>"), "\(records)")
        #expect(records.last(where: { $0.hasPrefix("stdout") }) == "stdout F tail")
    }

    @Test func detachedMonitorOutlivesLauncherStaysSmallAndCleansUp() throws {
        defer { cleanup() }
        let scratch = dir + "/scratch"
        try FileManager.default.createDirectory(atPath: scratch + "/a", withIntermediateDirectories: true)
        var c = config(["sleep", "30"])
        c.cleanupRmtree = [scratch]
        let file = dir + "/detached.spawn"
        try c.write(to: file)
        let pid = try MonitorLauncher.startDetached(monitor: monitor, spawnFile: file)
        defer { kill(pid, SIGKILL) }
        let record = PidRecord(parsing: try String(contentsOfFile: dir + "/init.pid", encoding: .utf8))
        #expect(record?.pid == pid && record?.isAlive == true)
        // The monitor is the container's parent, in its own session, not our child.
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: stat.lastIndex(of: ")") ?? stat.startIndex)...].split(separator: " ")
        let monitorPid = Int32(fields.count > 1 ? fields[1] : "") ?? 0
        #expect(monitorPid > 1 && monitorPid != getpid())
        #expect(getsid(monitorPid) == monitorPid)
        #expect(getppid() != monitorPid)
        let status = try String(contentsOfFile: "/proc/\(monitorPid)/status", encoding: .utf8)
        let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? Int.max
        print("skiff-monitor VmRSS: \(rss) kB")
        #expect(rss <= 1024, "monitor VmRSS \(rss) kB")

        kill(pid, SIGKILL)
        var waited = 0
        while kill(monitorPid, 0) == 0 && waited < 100 { usleep(50_000); waited += 1 }
        #expect(kill(monitorPid, 0) != 0, "monitor still running")
        let exit = try exitRecord()
        #expect(exit.exitCode == 137 && exit.signal == 9)
        #expect(!FileManager.default.fileExists(atPath: scratch))
    }

    @Test func containerSurvivesItsLauncherBeingKilled() throws {
        defer { cleanup() }
        let file = dir + "/survivor.spawn"
        try config(["sleep", "30"]).write(to: file)
        // A launcher process (its own process group) starts the monitor, then is SIGKILLed with its group.
        var pid: pid_t = 0
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
        let script = "\(monitor) \(file) 3 3>\(dir)/ready; sleep 60"
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(script), nil]
        defer { argv.forEach { free($0) } }
        #expect(posix_spawn(&pid, "/bin/sh", nil, &attr, argv, environ) == 0)
        var waited = 0
        while (try? String(contentsOfFile: dir + "/init.pid", encoding: .utf8)) == nil && waited < 100 { usleep(50_000); waited += 1 }
        let record = try #require(PidRecord(parsing: try String(contentsOfFile: dir + "/init.pid", encoding: .utf8)))
        defer { kill(record.pid, SIGKILL) }
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        usleep(200_000)
        #expect(record.isAlive, "container died with its launcher")
        kill(record.pid, SIGKILL)
        waited = 0
        while !FileManager.default.fileExists(atPath: dir + "/exit.json") && waited < 100 { usleep(50_000); waited += 1 }
        #expect(try exitRecord().exitCode == 137)
    }

    @Test func malformedSpawnFileNamesKeyAndRecord() throws {
        defer { cleanup() }
        let file = dir + "/bad.spawn"
        var bytes = try config(["true"]).encoded()
        bytes += Array("bogus\u{0}x\u{0}".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let r = try TestEnv.capture([monitor, file])
        #expect(r.status == 125)
        #expect(r.stderr.contains("bogus") && r.stderr.contains("record"), "\(r.stderr)")
        // A record cut short: the key is named.
        try Data(Array("rootfs\u{0}/r\u{0}mount\u{0}a\u{0}".utf8)).write(to: URL(fileURLWithPath: file))
        let short = try TestEnv.capture([monitor, file])
        #expect(short.status == 125 && short.stderr.contains("mount: missing fields"), "\(short.stderr)")
    }
}
