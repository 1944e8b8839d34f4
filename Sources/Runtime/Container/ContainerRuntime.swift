// The container lifecycle behind `skiff run/ps/logs/kill/rm`: plan, set up, hand over to the
// C monitor, and tear down. Every step that creates something is undone if a later step fails.
import Cgroups
import FoundationEssentials
import Images
#if canImport(Glibc)
import Glibc
#endif

public struct RuntimeOptions: Sendable {
    /// State root: containers/, images/ live under it.
    public var root: String
    /// Cgroup parent (relative to each hierarchy root) under which containers get their cgroup.
    public var cgroupParent: String
    /// The skiff-monitor executable.
    public var monitorPath: String

    public init(root: String = "/var/lib/skiff", cgroupParent: String = "skiff", monitorPath: String? = nil) {
        self.root = root
        self.cgroupParent = cgroupParent
        self.monitorPath = monitorPath ?? RuntimeOptions.defaultMonitorPath()
    }

    /// $SKIFF_MONITOR, else skiff-monitor beside the running executable, else on PATH.
    public static func defaultMonitorPath() -> String {
        if let env = getenv("SKIFF_MONITOR") { return String(cString: env) }
        if let dir = getenv("SKIFF_BIN_DIR") { return String(cString: dir) + "/skiff-monitor" }
        return Executables.beside("skiff-monitor") ?? "/usr/local/bin/skiff-monitor"
    }
}

/// A container that has been set up and is ready to be handed to the monitor.
public struct PreparedContainer: Sendable {
    public let record: ContainerRecord
    public let paths: ContainerPaths
}

public final class ContainerRuntime: Sendable {
    public let options: RuntimeOptions
    public let store: ContainerStore

    public init(options: RuntimeOptions) throws {
        self.options = options
        self.store = ContainerStore(root: options.root)
        try FileIO.mkdirAll(options.root + "/containers", mode: 0o711)
    }

    public var imageStore: ImageStore {
        get throws { try ImageStore(root: options.root + "/images") }
    }

    // MARK: run

    /// Creates the container and starts it. Detached: returns once it runs. Foreground: this
    /// process becomes the monitor (exec), streams the output and exits with the container's code.
    public func run(_ spec: ContainerSpec) throws -> ContainerRecord {
        let prepared = try prepare(spec)
        if spec.detach {
            do {
                _ = try MonitorLauncher.startDetached(monitor: options.monitorPath, spawnFile: prepared.paths.spawnFile)
            } catch {
                if spec.autoRemove { try? remove(prepared.record.id, force: true) }
                throw error
            }
            return prepared.record
        }
        try MonitorLauncher.execForeground(monitor: options.monitorPath, spawnFile: prepared.paths.spawnFile)
    }

    /// Everything up to the launch: state dir, rootfs, cgroup, seccomp program, spawn file.
    public func prepare(_ spec: ContainerSpec) throws -> PreparedContainer {
        let id = ContainerStore.newID()
        let createdAt = Self.now()
        let name = spec.name ?? String(id.prefix(12))
        try validateName(name)
        let paths = store.paths(id)
        var undo: [() -> Void] = []
        func rollback() { for step in undo.reversed() { step() } }

        do {
            // Resolve the root before creating anything: a bad image or rootfs leaves no trace.
            let root = try resolveRoot(spec.root)
            try withLock {
                // Default names derive from the random id, so only chosen names need the scan.
                if spec.name != nil, !store.all(where: { $0.name == name }).isEmpty {
                    throw RuntimeError(.alreadyExists, "a container named \"\(name)\" already exists")
                }
                try FileIO.mkdirAll(paths.dir, mode: 0o700)
                undo.append { try? FileIO.removeTree(paths.dir) }
                // Reserve a chosen name by writing the record first; it is completed below. A default
                // name is unique already, and writing the record once matters: on ext4, renaming a new
                // record over the old one starts its writeback, which the --rm cleanup then waits for.
                if spec.name != nil {
                    try store.save(ContainerRecord(id: id, name: name, image: root.imageName, imageDigest: root.imageDigest,
                                                   command: [], createdAt: createdAt, rootfs: "", overlay: false,
                                                   cgroupPath: "", autoRemove: spec.autoRemove))
                }
            }

            let rootfs: String
            if let dir = root.directory {
                rootfs = dir
            } else {
                for d in [paths.rootfs, paths.upper, paths.work] { try FileIO.mkdirAll(d, mode: 0o755) }
                try Rootfs.mountOverlay(lowers: root.layers, upper: paths.upper, work: paths.work, target: paths.rootfs)
                undo.append { try? Rootfs.unmount(paths.rootfs) }
                rootfs = paths.rootfs
            }

            let cgroupPath = (spec.cgroupParent ?? options.cgroupParent) + "/" + id
            let manager = try makeCgroupManager()
            let cgroup = try manager.create(cgroupPath, limits: Self.limits(for: spec))
            undo.append { try? manager.remove(cgroupPath) }

            var config = try SpawnPlanner.plan(spec: spec, image: root.config, id: id, rootfs: rootfs, paths: paths)
            config.cgroupProcs = cgroup.joinFiles
            config.oomEvents = cgroup.oomEventsFile
            if !spec.privileged && !spec.seccompUnconfined { config.seccompPath = try seccompProgram(.runtimeDefault) }
            if spec.autoRemove {
                if root.directory == nil { config.cleanupUmount = [paths.rootfs] }
                config.cleanupRmdir = cgroup.directories
                config.cleanupRmtree = [paths.dir]
            }
            try config.write(to: paths.spawnFile)
            try saveExecBase(config, paths: paths)

            let record = ContainerRecord(id: id, name: name, image: root.imageName, imageDigest: root.imageDigest,
                                         command: config.args, createdAt: createdAt, rootfs: rootfs,
                                         overlay: root.directory == nil, layers: root.layers, cgroupPath: cgroupPath,
                                         autoRemove: spec.autoRemove)
            try store.save(record)
            return PreparedContainer(record: record, paths: paths)
        } catch {
            rollback()
            throw error
        }
    }

    // MARK: inspect, signal, remove

    /// Image garbage collection that keeps every layer a container still stands on.
    public func pruneImages() throws -> ImageStore.GCResult {
        var inUse = Set<Digest>()
        for record in store.all() {
            for dir in record.layers ?? [] {
                if let hex = dir.split(separator: "/").last, let d = try? Digest(parsing: "sha256:" + hex) { inUse.insert(d) }
            }
        }
        return try imageStore.garbageCollect(keepLayers: inUse)
    }

    public func list() -> [(record: ContainerRecord, status: ContainerRunState)] {
        store.all().map { ($0, store.status(of: $0.id)) }
    }

    /// The containers whose record matches, with their state, in no order (cheaper than list()).
    public func list(where matches: (ContainerRecord) -> Bool) -> [(record: ContainerRecord, status: ContainerRunState)] {
        store.all(where: matches).map { ($0, store.status(of: $0.id)) }
    }

    public func kill(_ ref: String, signal: Int32) throws {
        let record = try store.find(ref)
        guard case .running(let pid) = store.status(of: record.id) else {
            throw RuntimeError(.conflict, "container \(record.name) is not running")
        }
        guard Glibc.kill(pid, signal) == 0 else {
            throw RuntimeError.posix(.io, "kill", path: "pid \(pid)")
        }
    }

    /// Removes a container: its rootfs mount, cgroups and state. A running one needs `force`
    /// (then it is killed first).
    public func remove(_ ref: String, force: Bool) throws {
        let record = try store.find(ref)
        if case .running(let pid) = store.status(of: record.id) {
            guard force else {
                throw RuntimeError(.conflict, "container \(record.name) is running: stop it first or use --force")
            }
            _ = Glibc.kill(pid, SIGKILL)
            try waitForExit(record.id, timeoutMs: 10_000)
        }
        let paths = store.paths(record.id)
        if record.overlay { try Rootfs.unmount(paths.rootfs) }
        if !record.cgroupPath.isEmpty { try makeCgroupManager().remove(record.cgroupPath) }
        try FileIO.removeTree(paths.dir)
    }

    /// Blocks until the container has an exit record.
    public func waitForExit(_ id: String, timeoutMs: Int) throws {
        var waited = 0
        while case .running = store.status(of: id) {
            guard waited < timeoutMs else { throw RuntimeError(.state, "container \(id.prefix(12)) did not exit") }
            usleep(10_000)
            waited += 10
        }
    }

    // MARK: helpers

    /// The compiled profile, cached under the root by content: compiling costs more than reading.
    func seccompProgram(_ profile: SeccompProfile) throws -> String {
        let path = options.root + "/seccomp/\(profile.fingerprint).bpf"
        if FileIO.exists(path) { return path }
        try FileIO.mkdirAll(options.root + "/seccomp", mode: 0o700)
        try FileIO.writeAtomic(path, try profile.compileBPF(), mode: 0o600)
        return path
    }

    private struct ResolvedRoot {
        var directory: String?
        var layers: [String] = []
        var config: ImageConfig?
        var imageName: String
        var imageDigest: String?
    }

    private func resolveRoot(_ source: ContainerSpec.RootSource) throws -> ResolvedRoot {
        switch source {
        case .directory(let dir):
            guard FileIO.isDirectory(dir) else { throw RuntimeError(.notFound, "rootfs directory \(dir) does not exist") }
            return ResolvedRoot(directory: dir, imageName: "dir:" + dir)
        case .image(let ref):
            let images = try imageStore
            let image: ImageRecord
            do { image = try images.resolve(ref) } catch {
                throw RuntimeError(.notFound, "image \(ref) not found (import it with `skiff image import`)", cause: nil)
            }
            return ResolvedRoot(layers: try images.layerDirectories(of: image), config: try images.config(of: image),
                                imageName: image.references.first ?? ref, imageDigest: image.manifestDigest.description)
        }
    }

    private func validateName(_ name: String) throws {
        let ok = !name.isEmpty && name.count <= 128 && name.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 46 || $0 == 95
        }
        guard ok, let first = name.utf8.first, first != 45, first != 46 else {
            throw RuntimeError(.invalidArgument, "invalid container name \"\(name)\": use letters, digits, '_', '.', '-'")
        }
    }

    private func makeCgroupManager() throws -> any CgroupManager {
        do { return try Cgroups.makeCgroupManager() } catch {
            throw RuntimeError(.io, "cgroups are unavailable", cause: error)
        }
    }

    static func limits(for spec: ContainerSpec) -> CgroupLimits {
        var limits = CgroupLimits()
        limits.memoryBytes = spec.memoryBytes
        if let milli = spec.milliCPUs { limits.cpuQuotaMicros = milli * 100 }   // per 100 ms period
        limits.pidsMax = spec.pidsLimit
        limits.cpuShares = spec.cpuShares
        return limits
    }

    /// Serialises name checks between concurrent `skiff` processes.
    private func withLock<T>(_ body: () throws -> T) throws -> T {
        let fd = open(options.root + "/containers/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RuntimeError.posix(.io, "open lock", path: options.root + "/containers/.lock") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw RuntimeError.posix(.io, "flock", path: options.root) }
        return try body()
    }

    /// RFC 3339 UTC with seconds, from gmtime_r: Foundation's formatter costs ~0.2 ms per run.
    static func now() -> String {
        var t = time(nil)
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))Z"
    }
}
