// Turns what the user asked for (ContainerSpec) and what the image says (ImageConfig) into the
// flat spawn plan the C monitor executes. Pure apart from reading the container's /etc/passwd.
import Images
#if canImport(Glibc)
import Glibc
#endif

public enum SpawnPlanner {
    static let defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    /// containerd's default: plenty of fds (clamped to the host's hard limit by the shim).
    static let defaultNofile: UInt64 = 1_048_576

    public static func plan(spec: ContainerSpec, image: ImageConfig?, id: String, rootfs: String,
                            paths: ContainerPaths) throws -> SpawnConfig {
        var c = SpawnConfig()
        c.rootfs = rootfs
        c.args = try arguments(spec: spec, image: image)
        let hostname = spec.hostname ?? String(id.prefix(12))
        c.env = environment(spec: spec, image: image, hostname: hostname)
        c.cwd = spec.workingDir ?? nonEmpty(image?.config?.workingDir) ?? "/"
        guard c.cwd.hasPrefix("/") else {
            throw RuntimeError(.invalidArgument, "working directory \"\(c.cwd)\" must be an absolute path")
        }
        c.namespaces = namespaces(spec)
        // A joined or host UTS namespace keeps its hostname (the sandbox set it).
        if spec.utsNamespace == .own { c.hostname = hostname }
        // The container's mount tree is private unless a bind wants mounts to travel: then it is
        // a slave (or shared) of the host's, and each bind gets its own propagation after that.
        c.propagation = spec.mounts.map(\.propagation).max() ?? .private
        c.mounts = LinuxDefaults.mounts(privileged: spec.privileged) + spec.mounts.map { bindMount($0, tree: c.propagation) }
        c.devices = LinuxDefaults.devices
        c.symlinks = LinuxDefaults.symlinks
        if !spec.privileged {
            c.maskedPaths = LinuxDefaults.maskedPaths
            c.readonlyPaths = LinuxDefaults.readonlyPaths
        }
        c.readonlyRootfs = spec.readOnlyRootfs
        c.rlimits = [SpawnConfig.Rlimit(resource: Int32(RLIMIT_NOFILE.rawValue), soft: defaultNofile, hard: defaultNofile)]

        let user = try UserResolver.resolve(spec.user ?? nonEmpty(image?.config?.user),
                                            passwd: readContainerFile(rootfs, "etc/passwd"),
                                            group: readContainerFile(rootfs, "etc/group"))
        c.uid = user.uid
        c.gid = user.gid
        c.groups = user.groups

        if spec.requireNonRoot && user.uid == 0 {
            throw RuntimeError(.invalidArgument, "container has runAsNonRoot and image will run as root")
        }
        if let g = spec.groupOverride { c.gid = g }
        for g in spec.supplementalGroups where !c.groups.contains(g) { c.groups.append(g) }

        // Like Docker: root gets the default set; another user keeps the bounding set but starts
        // with no effective capabilities (the kernel clears them on setuid).
        let caps = try capabilities(spec)
        c.capabilities.bounding = caps.mask
        c.capabilities.permitted = user.uid == 0 ? caps.mask : 0
        c.capabilities.effective = user.uid == 0 ? caps.mask : 0
        c.capabilities.inheritable = 0
        c.capabilities.ambient = 0
        c.noNewPrivileges = spec.noNewPrivileges

        c.logPath = paths.log
        c.logMaxBytes = spec.logMaxBytes
        c.logMaxFiles = spec.logMaxFiles
        c.exitFile = paths.exitFile
        c.pidFile = paths.pidFile
        c.foreground = !spec.detach
        c.terminal = spec.tty
        if spec.stdin { c.stdinSocket = paths.attachSocket; c.stdinOnce = spec.stdinOnce }
        return c
    }

    /// mnt and cgroup are always the container's own; the others per the spec (host = none listed).
    static func namespaces(_ spec: ContainerSpec) -> [SpawnConfig.Namespace] {
        var out = [SpawnConfig.Namespace(type: "mnt", path: nil)]
        for (type, mode) in [("pid", spec.pidNamespace), ("uts", spec.utsNamespace), ("ipc", spec.ipcNamespace),
                             ("net", spec.networkNamespace)] {
            switch mode {
            case .own: out.append(.init(type: type, path: nil))
            case .join(let path): out.append(.init(type: type, path: path))
            case .host: break
            }
        }
        out.append(.init(type: "cgroup", path: nil))
        return out
    }

    static func bindMount(_ m: ContainerSpec.BindMount, tree: ContainerSpec.Propagation = .private) -> SpawnConfig.Mount {
        let recursiveBind: UInt = 4096 | 16384   // MS_BIND | MS_REC
        // In a private tree every bind is private already; otherwise each says what it is.
        let propagation: UInt
        switch m.propagation {
        case .private: propagation = tree == .private ? 0 : 1 << 18   // MS_PRIVATE
        case .slave: propagation = 1 << 19                            // MS_SLAVE
        case .shared: propagation = 1 << 20                           // MS_SHARED
        }
        return .init(source: m.source, destination: m.destination, fstype: "",
                     flags: recursiveBind | (m.readOnly ? LinuxDefaults.rdonly : 0) | propagation)
    }

    /// The default set (or every capability when privileged) minus capDrop, plus capAdd (as
    /// containerd: drop ALL + add X leaves X); "ALL" works in both.
    static func capabilities(_ spec: ContainerSpec) throws -> CapabilitySet {
        let bounding = CapabilitySet.processBounding()
        if spec.privileged { return CapabilitySet.all.intersection(bounding) }
        func set(_ names: [String]) throws -> CapabilitySet {
            if names.contains(where: { $0.uppercased() == "ALL" }) { return .all }
            return try CapabilitySet(names: names)
        }
        let add = try set(spec.capAdd), drop = try set(spec.capDrop)
        return CapabilitySet(mask: (CapabilitySet.containerDefault.mask & ~drop.mask) | add.mask).intersection(bounding)
    }

    /// Entrypoint + (command given on the command line, else the image's Cmd).
    static func arguments(spec: ContainerSpec, image: ImageConfig?) throws -> [String] {
        let entrypoint = spec.entrypoint ?? image?.config?.entrypoint ?? []
        let cmd = spec.command.isEmpty && spec.entrypoint == nil ? (image?.config?.cmd ?? []) : spec.command
        let args = entrypoint + cmd
        guard let first = args.first, !first.isEmpty else {
            throw RuntimeError(.invalidArgument, "no command to run: give one after the image (the image has no Cmd or Entrypoint)")
        }
        return args
    }

    /// Image env, then HOSTNAME, then --env (later keys win); PATH always present.
    static func environment(spec: ContainerSpec, image: ImageConfig?, hostname: String) -> [String] {
        var order: [String] = []
        var values: [String: String] = [:]
        func set(_ entry: String) {
            let key = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
            if values[key] == nil { order.append(key) }
            values[key] = entry
        }
        set(defaultPath)
        for e in image?.config?.env ?? [] { set(e) }
        set("HOSTNAME=" + hostname)
        if spec.tty { set("TERM=xterm") }   // as containerd for a container with a terminal
        for e in spec.env {
            if e.contains("=") { set(e) } else if let v = getenv(e) { set(e + "=" + String(cString: v)) }
        }
        return order.compactMap { values[$0] }
    }

    private static func nonEmpty(_ s: String?) -> String? { (s?.isEmpty ?? true) ? nil : s }

    /// Reads a small file inside the rootfs without following a symlink out of it at the leaf.
    private static func readContainerFile(_ rootfs: String, _ relative: String) -> String? {
        let fd = open(rootfs + "/" + relative, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while out.count < 1 << 20 {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
