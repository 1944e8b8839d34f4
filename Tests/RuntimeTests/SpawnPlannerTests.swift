import Foundation
import Testing
import TestSupport
@testable import Images
@testable import Runtime

/// Plans built from a spec and an image config, checked field by field: no kernel involved.
@Suite final class SpawnPlannerTests {
    let rootfs: String
    let paths: ContainerPaths

    deinit { try? FileManager.default.removeItem(atPath: rootfs) }

    init() throws {
        rootfs = try TestEnv.makeTempDir("planner-rootfs")
        try FileManager.default.createDirectory(atPath: rootfs + "/etc", withIntermediateDirectories: true)
        try "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n".write(toFile: rootfs + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\napp:x:1000:\nvideo:x:44:app\n".write(toFile: rootfs + "/etc/group", atomically: true, encoding: .utf8)
        paths = ContainerPaths(root: "/var/lib/skiff", id: String(repeating: "ab", count: 32))
    }

    func image(entrypoint: [String]? = nil, cmd: [String]? = ["sh"], env: [String]? = ["PATH=/bin", "LANG=C"],
               workingDir: String? = "/srv", user: String? = nil) throws -> ImageConfig {
        var config: [String: Any] = [:]
        if let entrypoint { config["Entrypoint"] = entrypoint }
        if let cmd { config["Cmd"] = cmd }
        if let env { config["Env"] = env }
        if let workingDir { config["WorkingDir"] = workingDir }
        if let user { config["User"] = user }
        let json: [String: Any] = ["architecture": "amd64", "os": "linux", "config": config,
                                   "rootfs": ["type": "layers", "diff_ids": [String]()]]
        return try JSONDecoder().decode(ImageConfig.self, from: JSONSerialization.data(withJSONObject: json))
    }

    func plan(_ spec: ContainerSpec, _ image: ImageConfig?) throws -> SpawnConfig {
        try SpawnPlanner.plan(spec: spec, image: image, id: String(repeating: "ab", count: 32), rootfs: rootfs, paths: paths)
    }

    @Test func commandReplacesCmdButKeepsEntrypoint() throws {
        var spec = ContainerSpec(root: .image("x"))
        #expect(try plan(spec, image(entrypoint: ["/init"], cmd: ["serve"])).args == ["/init", "serve"])
        spec.command = ["echo", "hi"]
        #expect(try plan(spec, image(entrypoint: ["/init"], cmd: ["serve"])).args == ["/init", "echo", "hi"])
        #expect(try plan(spec, image(cmd: ["serve"])).args == ["echo", "hi"])
    }

    @Test func kubernetesStdinAndTTYBecomeTheAttachSocketAndATerminal() throws {
        var spec = ContainerSpec(root: .image("x"))
        spec.stdin = true
        spec.tty = true
        let wired = try plan(spec, image())
        #expect(wired.stdinSocket == paths.attachSocket && !wired.stdinOnce && wired.terminal)
        #expect(wired.env.contains("TERM=xterm"))
        spec.stdinOnce = true
        #expect(try plan(spec, image()).stdinOnce)
        let plain = try plan(ContainerSpec(root: .image("x")), image())
        #expect(plain.stdinSocket == nil && !plain.terminal && !plain.env.contains("TERM=xterm"))
    }

    @Test func noCommandAnywhereIsAClearError() throws {
        let spec = ContainerSpec(root: .image("x"))
        #expect(throws: RuntimeError.self) { try plan(spec, image(cmd: nil)) }
    }

    @Test func environmentMergesImageHostnameAndFlags() throws {
        var spec = ContainerSpec(root: .image("x"))
        spec.env = ["LANG=en_US.UTF-8", "EXTRA=1"]
        spec.hostname = "web"
        let env = try plan(spec, image()).env
        #expect(env == ["PATH=/bin", "LANG=en_US.UTF-8", "HOSTNAME=web", "EXTRA=1"])
    }

    @Test func defaultPathWhenImageHasNone() throws {
        let env = try plan(ContainerSpec(root: .image("x")), image(env: nil)).env
        #expect(env.first == "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        #expect(env.contains("HOSTNAME=abababababab"))
    }

    @Test func workingDirAndUser() throws {
        var spec = ContainerSpec(root: .image("x"))
        var p = try plan(spec, image(user: "app"))
        #expect(p.cwd == "/srv")
        #expect((p.uid, p.gid, p.groups) == (1000, 1000, [1000, 44]))
        // Non-root users start without effective capabilities, bounded by the default set.
        #expect(p.capabilities.effective == 0)
        #expect(p.capabilities.bounding == CapabilitySet.containerDefault.mask)
        spec.user = "0"
        spec.workingDir = "/tmp"
        p = try plan(spec, image(user: "app"))
        #expect(p.cwd == "/tmp")
        #expect(p.uid == 0)
        #expect(p.capabilities.effective == CapabilitySet.containerDefault.mask)
        spec.workingDir = "relative"
        #expect(throws: RuntimeError.self) { try plan(spec, image()) }
    }

    @Test func defaultIsolation() throws {
        let p = try plan(ContainerSpec(root: .image("x")), image())
        #expect(Set(p.namespaces.map(\.type)) == ["mnt", "pid", "uts", "ipc", "net", "cgroup"])
        #expect(p.namespaces.allSatisfy { $0.path == nil })
        #expect(p.maskedPaths.contains("/proc/kcore"))
        #expect(p.readonlyPaths.contains("/proc/sys"))
        #expect(p.mounts.contains { $0.destination == "/proc" })
        #expect(p.devices.contains { $0.path == "/dev/null" })
        #expect(!p.noNewPrivileges)
        #expect(!p.readonlyRootfs)
        #expect(p.foreground)
        #expect(p.logPath == paths.log && p.exitFile == paths.exitFile && p.pidFile == paths.pidFile)
    }

    @Test func privilegedDropsMasksAndGrantsAllCapabilities() throws {
        var spec = ContainerSpec(root: .image("x"))
        spec.privileged = true
        spec.readOnlyRootfs = true
        spec.detach = true
        let p = try plan(spec, image())
        #expect(p.maskedPaths.isEmpty && p.readonlyPaths.isEmpty)
        #expect(p.capabilities.effective == CapabilitySet.all.intersection(.processBounding()).mask)
        #expect(p.capabilities.effective & CapabilitySet.containerDefault.mask == CapabilitySet.containerDefault.mask)
        #expect(p.readonlyRootfs)
        #expect(!p.foreground)
    }

    @Test func cgroupLimitsFromSpec() {
        var spec = ContainerSpec(root: .image("x"))
        spec.memoryBytes = 64 << 20
        spec.milliCPUs = 500
        spec.pidsLimit = 32
        let limits = ContainerRuntime.limits(for: spec)
        #expect(limits.memoryBytes == 64 << 20)
        #expect(limits.cpuQuotaMicros == 50_000)
        #expect(limits.pidsMax == 32)
    }

    /// Mount propagation: a private tree unless a bind asks for more; then every bind says its own.
    @Test func bindMountPropagation() throws {
        let bind: UInt = 4096 | 16384, privateFlag: UInt = 1 << 18, slave: UInt = 1 << 19, shared: UInt = 1 << 20
        var spec = ContainerSpec(root: .image("x"))
        spec.mounts = [.init(source: "/a", destination: "/a", readOnly: false)]
        var p = try plan(spec, image())
        #expect(p.propagation == .private)
        #expect(p.mounts.last?.flags == bind, "a private tree's binds need nothing more")
        #expect(!(try p.encoded()).split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "propagation" })
        spec.mounts.append(.init(source: "/b", destination: "/b", readOnly: true, propagation: .slave))
        p = try plan(spec, image())
        #expect(p.propagation == .slave)
        #expect(p.mounts.suffix(2).map(\.flags) == [bind | privateFlag, bind | LinuxDefaults.rdonly | slave])
        spec.mounts.append(.init(source: "/c", destination: "/c", readOnly: false, propagation: .shared))
        p = try plan(spec, image())
        #expect(p.propagation == .shared)
        #expect(p.mounts.last?.flags == bind | shared)
        let records = try p.encoded().split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        #expect(records.firstIndex(of: "propagation").map { records[$0 + 1] } == "shared")
    }
}
