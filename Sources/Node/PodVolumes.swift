// A pod's volumes on the host, laid out like the kubelet's: <root>/pods/<uid>/volumes/<name>.
// emptyDir is a directory (or a tmpfs for medium Memory); configMap, secret, downwardAPI and
// projected volumes are written with the kubelet's atomic layout (files behind a "..data"
// symlink swapped in one rename), secrets on a tmpfs so they never touch the disk; hostPath is
// the host's path, checked against its type. Containers get them as bind mounts, subPath
// resolved so it cannot leave its volume.
import API
import Foundation
import Runtime
#if canImport(Glibc)
import Glibc
#endif

struct PodVolumes {
    let podDir: String
    let pod: JSONValue
    /// Where ConfigMaps and Secrets come from (nil: none can be read, e.g. no master).
    let objects: ObjectSource?
    /// The claim volumes' host paths, mounted before (ClaimVolumes).
    let claimPaths: [String: String]

    init(rootDir: String, uid: String, pod: JSONValue, objects: ObjectSource?, claimPaths: [String: String] = [:]) {
        podDir = rootDir + "/pods/" + uid
        self.pod = pod
        self.objects = objects
        self.claimPaths = claimPaths
    }

    var namespace: String { pod["metadata"]?["namespace"]?.stringValue ?? "default" }
    var fsGroup: UInt32? { pod["spec"]?["securityContext"]?["fsGroup"]?.intValue.flatMap { UInt32(exactly: $0) } }

    /// Sets up (or refreshes) every volume; returns volume name → host path.
    func setUp(nodeAllocatable: (String) -> String?) throws -> [String: String] {
        var paths: [String: String] = [:]
        try FileIO.mkdirAll(podDir + "/volumes", mode: 0o750)
        let claimVolumes = Set(Pod(json: pod).claimVolumes.map(\.volume))
        for v in pod["spec"]?["volumes"]?.arrayValue ?? [] {
            guard let name = v["name"]?.stringValue else { continue }
            let dir = podDir + "/volumes/" + name
            if claimVolumes.contains(name) {
                // Mounted before the sandbox (ClaimVolumes); a container can't start without it.
                paths[name] = claimPaths[name]
                continue
            }
            if let hostPath = v["hostPath"] {
                paths[name] = try Self.checkHostPath(hostPath["path"]?.stringValue ?? "", type: hostPath["type"]?.stringValue ?? "", volume: name)
                continue
            }
            if let empty = v["emptyDir"] {
                try FileIO.mkdirAll(dir, mode: 0o777)
                chmod(dir, 0o777)
                if empty["medium"]?.stringValue == "Memory" {
                    let limit = empty["sizeLimit"]?.stringValue.flatMap { try? Quantity(parsing: $0).value }
                    try mountTmpfs(dir, sizeBytes: limit, volume: name)
                }
                if let g = fsGroup { Self.setGroup(dir, gid: g, recursive: false) }
                paths[name] = dir
                continue
            }
            var files: [(String, [UInt8], mode_t)] = []
            var onTmpfs = false
            if let cm = v["configMap"] {
                files = try configMapFiles(cm, volume: name)
            } else if let secret = v["secret"] {
                files = try secretFiles(secret, volume: name)
                onTmpfs = true
            } else if let downward = v["downwardAPI"] {
                files = try downwardFiles(downward, defaultMode: mode(downward["defaultMode"], 0o644), volume: name, nodeAllocatable: nodeAllocatable)
            } else if let projected = v["projected"] {
                let defaultMode = mode(projected["defaultMode"], 0o644)
                for source in projected["sources"]?.arrayValue ?? [] {
                    if let cm = source["configMap"] { files += try configMapFiles(cm, volume: name, defaultMode: defaultMode) }
                    if let s = source["secret"] { files += try secretFiles(s, volume: name, defaultMode: defaultMode); onTmpfs = true }
                    if let d = source["downwardAPI"] { files += try downwardFiles(d, defaultMode: defaultMode, volume: name, nodeAllocatable: nodeAllocatable) }
                    if let t = source["serviceAccountToken"] { files.append(try tokenFile(t, volume: name, defaultMode: defaultMode)) }
                }
                // The kubelet keeps projected volumes in memory (tokens and secrets never touch the disk).
                onTmpfs = true
            } else {
                throw PodConfigError("volume \"\(name)\": unsupported volume type on this node")
            }
            try FileIO.mkdirAll(dir, mode: 0o755)
            if onTmpfs { try mountTmpfs(dir, sizeBytes: nil, volume: name) }
            try AtomicWriter.write(dir, files: files, volume: name)
            if let g = fsGroup { Self.setGroup(dir, gid: g, recursive: true) }
            paths[name] = dir
        }
        return paths
    }

    private func mode(_ v: JSONValue?, _ fallback: mode_t) -> mode_t {
        v?.intValue.flatMap { mode_t(exactly: $0) } ?? fallback
    }

    /// A configMap (volume or projection) as files: every key, or the listed items.
    private func configMapFiles(_ src: JSONValue, volume: String, defaultMode: mode_t? = nil) throws -> [(String, [UInt8], mode_t)] {
        try objectFiles(src, resource: "configmaps", kind: "configmap", secret: false, volume: volume,
                        defaultMode: defaultMode ?? mode(src["defaultMode"], 0o644))
    }

    private func secretFiles(_ src: JSONValue, volume: String, defaultMode: mode_t? = nil) throws -> [(String, [UInt8], mode_t)] {
        try objectFiles(src, resource: "secrets", kind: "secret", secret: true, volume: volume,
                        defaultMode: defaultMode ?? mode(src["defaultMode"], 0o644), nameKey: src["secretName"] != nil ? "secretName" : "name")
    }

    private func objectFiles(_ src: JSONValue, resource: String, kind: String, secret: Bool, volume: String,
                             defaultMode: mode_t, nameKey: String = "name") throws -> [(String, [UInt8], mode_t)] {
        let name = src[nameKey]?.stringValue ?? ""
        let optional = src["optional"]?.boolValue == true
        guard let source = objects, let obj = try source.object(resource: resource, namespace: namespace, name: name) else {
            if optional { return [] }
            throw PodConfigError("MountVolume.SetUp failed for volume \"\(volume)\": \(kind) \"\(name)\" not found")
        }
        let data = PodEnvironment.dataEntries(obj, secret: secret)
        guard let items = src["items"]?.arrayValue else { return data.map { ($0.0, $0.1, defaultMode) } }
        var files: [(String, [UInt8], mode_t)] = []
        for item in items {
            let key = item["key"]?.stringValue ?? ""
            guard let bytes = data.first(where: { $0.0 == key })?.1 else {
                if optional { continue }
                throw PodConfigError("MountVolume.SetUp failed for volume \"\(volume)\": configmap references non-existent key \(key)")
            }
            files.append((item["path"]?.stringValue ?? key, bytes, mode(item["mode"], defaultMode)))
        }
        return files
    }

    /// A bound service account token (requested through the API, refreshed before it expires).
    private func tokenFile(_ src: JSONValue, volume: String, defaultMode: mode_t) throws -> (String, [UInt8], mode_t) {
        let projection = TokenProjection(src)
        guard let source = objects else {
            throw PodConfigError("MountVolume.SetUp failed for volume \"\(volume)\": no API server to request a service account token from")
        }
        do {
            return (projection.path, Array(try source.token(for: TokenOwner(pod: pod), projection).utf8), defaultMode)
        } catch {
            throw PodConfigError("MountVolume.SetUp failed for volume \"\(volume)\": \(error)")
        }
    }

    private func downwardFiles(_ src: JSONValue, defaultMode: mode_t, volume: String, nodeAllocatable: (String) -> String?) throws -> [(String, [UInt8], mode_t)] {
        var files: [(String, [UInt8], mode_t)] = []
        for item in src["items"]?.arrayValue ?? [] {
            let path = item["path"]?.stringValue ?? ""
            let value: String
            if let f = item["fieldRef"] {
                value = try PodEnvironment.fieldValue(f["fieldPath"]?.stringValue ?? "", pod: pod, field: "volume \(volume)")
            } else if let r = item["resourceFieldRef"] {
                let container = (pod["spec"]?["containers"]?.arrayValue ?? []).first { $0["name"]?.stringValue == r["containerName"]?.stringValue } ?? .null
                value = try PodEnvironment.resourceValue(r, container: container, nodeAllocatable: nodeAllocatable, field: "volume \(volume)")
            } else { continue }
            files.append((path, Array(value.utf8), mode(item["mode"], defaultMode)))
        }
        return files
    }

    private func mountTmpfs(_ dir: String, sizeBytes: Int64?, volume: String) throws {
        if Self.isMountPoint(dir) { return }
        var data = "mode=0777"
        if let sizeBytes, sizeBytes > 0 { data += ",size=\(sizeBytes)" }
        guard mount("tmpfs", dir, "tmpfs", UInt(MS_NOSUID | MS_NODEV), data) == 0 else {
            throw PodConfigError("volume \"\(volume)\": mounting a tmpfs at \(dir) failed: \(String(cString: strerror(errno)))")
        }
        chmod(dir, 0o777)
    }

    /// Unmounts tmpfs volumes and removes the pod's directory.
    static func tearDown(podDir: String) throws {
        for name in FileIO.listDirectory(podDir + "/volumes") {
            let dir = podDir + "/volumes/" + name
            if isMountPoint(dir), umount2(dir, Int32(MNT_DETACH)) != 0 {
                throw PodConfigError("unmounting \(dir): \(String(cString: strerror(errno)))")
            }
        }
        try FileIO.removeTree(podDir)
    }

    static func isMountPoint(_ path: String) -> Bool {
        var st = stat(), parent = stat()
        guard stat(path, &st) == 0, stat(path + "/..", &parent) == 0 else { return false }
        return st.st_dev != parent.st_dev
    }

    /// chown :gid (files stay owned by their user), with group rw on dirs and setgid like the
    /// kubelet; files get group read, and write too in a `writable` volume (a claim's).
    static func setGroup(_ path: String, gid: UInt32, recursive: Bool, writable: Bool = false) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        _ = lchown(path, uid_t(UInt32.max), gid)
        if (st.st_mode & S_IFMT) == S_IFDIR {
            chmod(path, (st.st_mode & 0o7777) | 0o2070)
            if recursive { for n in FileIO.listDirectory(path) { setGroup(path + "/" + n, gid: gid, recursive: true, writable: writable) } }
        } else if (st.st_mode & S_IFMT) == S_IFREG {
            chmod(path, (st.st_mode & 0o7777) | (writable ? 0o060 : 0o040))
        }
    }

    /// hostPath type checks (and creation for the *OrCreate types).
    static func checkHostPath(_ path: String, type: String, volume: String) throws -> String {
        guard path.hasPrefix("/") else { throw PodConfigError("volume \"\(volume)\": hostPath \"\(path)\" must be absolute") }
        var st = stat()
        let exists = stat(path, &st) == 0
        let kind = st.st_mode & S_IFMT
        func fail(_ what: String) -> PodConfigError {
            PodConfigError("MountVolume.SetUp failed for volume \"\(volume)\": hostPath type check failed: \(path) is not \(what)")
        }
        switch type {
        case "", "Unset": break
        case "DirectoryOrCreate":
            if !exists { try FileIO.mkdirAll(path, mode: 0o755) } else if kind != S_IFDIR { throw fail("a directory") }
        case "Directory": if !exists || kind != S_IFDIR { throw fail("a directory") }
        case "FileOrCreate":
            if !exists {
                if let slash = path.lastIndex(of: "/"), slash != path.startIndex { try FileIO.mkdirAll(String(path[..<slash])) }
                let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw PodConfigError("volume \"\(volume)\": creating \(path): \(String(cString: strerror(errno)))") }
                close(fd)
            } else if kind != S_IFREG { throw fail("a file") }
        case "File": if !exists || kind != S_IFREG { throw fail("a file") }
        case "Socket": if !exists || kind != S_IFSOCK { throw fail("a socket") }
        case "CharDevice": if !exists || kind != S_IFCHR { throw fail("a character device") }
        case "BlockDevice": if !exists || kind != S_IFBLK { throw fail("a block device") }
        default: throw PodConfigError("volume \"\(volume)\": unknown hostPath type \"\(type)\"")
        }
        return path
    }

    /// The bind mounts of one container: its volumeMounts (subPath/subPathExpr resolved inside
    /// the volume) plus the pod's /etc/hosts and /etc/hostname.
    func mounts(for c: JSONValue, volumes: [String: String], env: [String: String]) throws -> [ContainerSpec.BindMount] {
        var out: [ContainerSpec.BindMount] = []
        let readOnlyVolumes = self.readOnlyVolumes
        let container = Container(json: c)
        let cname = container.name ?? ""
        for (i, mount) in ((c["volumeMounts"]?.arrayValue ?? []).map(VolumeMount.init(json:))).enumerated() {
            let name = mount.name ?? ""
            guard let base = volumes[name] else {
                if Pod(json: pod).spec.volumes.contains(where: { $0.name == name }) {
                    throw PodConfigError("container \(cname): volume \"\(name)\" is not mounted yet")
                }
                throw PodConfigError("container \(cname): volumeMounts[\(i)] refers to unknown volume \"\(name)\"")
            }
            var source = base
            var sub = mount.subPath ?? ""
            if let expr = mount.subPathExpr { sub = PodEnvironment.expand(expr, env) }
            if !sub.isEmpty { source = try Self.resolveSubPath(base: base, subPath: sub, container: cname, index: i) }
            out.append(.init(source: source, destination: mount.mountPath ?? "",
                             readOnly: mount.readOnly == true || readOnlyVolumes.contains(name),
                             propagation: try Self.propagation(mount, of: container)))
        }
        let hostNetwork = pod["spec"]?["hostNetwork"]?.boolValue == true
        let mountsHosts = out.contains { $0.destination == "/etc/hosts" }
        if !hostNetwork && !mountsHosts, FileIO.exists(podDir + "/etc-hosts") {
            out.append(.init(source: podDir + "/etc-hosts", destination: "/etc/hosts", readOnly: false))
        }
        if FileIO.exists(podDir + "/etc-hostname") {
            out.append(.init(source: podDir + "/etc-hostname", destination: "/etc/hostname", readOnly: false))
        }
        if !out.contains(where: { $0.destination == "/etc/resolv.conf" }), FileIO.exists(podDir + "/etc-resolv.conf") {
            out.append(.init(source: podDir + "/etc-resolv.conf", destination: "/etc/resolv.conf", readOnly: false))
        }
        return out
    }

    /// base/subPath, created as a directory when missing, and refused when it (through ".." or
    /// symlinks) would point outside the volume.
    static func resolveSubPath(base: String, subPath: String, container: String, index: Int) throws -> String {
        let parts = subPath.split(separator: "/")
        guard !subPath.hasPrefix("/"), !parts.contains("..") else {
            throw PodConfigError("container \(container): volumeMounts[\(index)].subPath \"\(subPath)\" must be a relative path without '..'")
        }
        let joined = base + "/" + subPath
        if !FileIO.exists(joined) {
            // Create it component by component without following links out of the volume.
            var current = base
            for p in parts {
                current += "/" + p
                var st = stat()
                if lstat(current, &st) == 0 { continue }
                if mkdir(current, 0o755) != 0 && errno != EEXIST {
                    throw PodConfigError("container \(container): creating subPath \(subPath): \(String(cString: strerror(errno)))")
                }
            }
        }
        guard let realBase = realpath(base, nil) else { throw PodConfigError("volume path \(base) is gone") }
        defer { free(realBase) }
        guard let real = realpath(joined, nil) else {
            throw PodConfigError("container \(container): subPath \"\(subPath)\": \(String(cString: strerror(errno)))")
        }
        defer { free(real) }
        let b = String(cString: realBase), r = String(cString: real)
        guard r == b || r.hasPrefix(b + "/") else {
            throw PodConfigError("container \(container): volumeMounts[\(index)].subPath \"\(subPath)\" escapes its volume (resolves to \(r))")
        }
        return r
    }

    /// /etc/hosts, /etc/hostname and /etc/resolv.conf for the pod's containers (kubelet-managed
    /// files). /etc/hosts names the pod's IP by its hostname (and FQDN with a subdomain).
    func writeEtcFiles(hostname: String, podIP: String?, domain: String, resolv: ResolvConf) throws {
        try FileIO.mkdirAll(podDir, mode: 0o750)
        var hosts = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        hosts += "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
        let fqdn = PodDNS.fqdn(pod, hostname: hostname, domain: domain)
        if let ip = podIP ?? PodNetwork.podIP(pod) { hosts += "\(ip)\t\(fqdn.map { $0 + "\t" } ?? "")\(hostname)\n" }
        if !(pod["spec"]?["hostAliases"]?.arrayValue ?? []).isEmpty { hosts += "\n# Entries added by HostAliases.\n" }
        for alias in pod["spec"]?["hostAliases"]?.arrayValue ?? [] {
            let names = (alias["hostnames"]?.arrayValue ?? []).compactMap(\.stringValue)
            if let ip = alias["ip"]?.stringValue, !names.isEmpty { hosts += "\(ip)\t\(names.joined(separator: "\t"))\n" }
        }
        let setFQDN = pod["spec"]?["setHostnameAsFQDN"]?.boolValue == true
        try FileIO.writeAtomic(podDir + "/etc-hosts", Array(hosts.utf8), mode: 0o644)
        try FileIO.writeAtomic(podDir + "/etc-hostname", Array(((setFQDN ? fqdn : nil) ?? hostname).utf8) + [0x0a], mode: 0o644)
        try FileIO.writeAtomic(podDir + "/etc-resolv.conf", Array(resolv.text.utf8), mode: 0o644)
    }
}

/// The kubelet's atomic writer: the files live in a timestamped directory that the "..data"
/// symlink points at; each top-level name is a symlink through ..data. An update writes a new
/// directory and swaps ..data in one rename, so readers never see a mix.
enum AtomicWriter {
    static func write(_ dir: String, files: [(String, [UInt8], mode_t)], volume: String) throws {
        if unchanged(dir, files: files) { return }
        var stamp = timespec()
        clock_gettime(CLOCK_REALTIME, &stamp)
        let versionName = "..\(stamp.tv_sec)_\(stamp.tv_nsec)"
        let version = dir + "/" + versionName
        try FileIO.mkdirAll(version, mode: 0o755)
        var topLevel = Set<String>()
        for (path, bytes, mode) in files {
            let parts = path.split(separator: "/")
            guard !path.hasPrefix("/"), !parts.isEmpty, !parts.contains(".."), !path.hasPrefix("..") else {
                throw PodConfigError("volume \"\(volume)\": invalid item path \"\(path)\"")
            }
            topLevel.insert(String(parts[0]))
            if parts.count > 1 { try FileIO.mkdirAll(version + "/" + parts.dropLast().joined(separator: "/"), mode: 0o755) }
            try FileIO.writeAtomic(version + "/" + path, bytes, mode: mode)
            chmod(version + "/" + path, mode)
        }
        let previous = readLink(dir + "/..data")
        unlink(dir + "/..data_tmp")
        guard symlink(versionName, dir + "/..data_tmp") == 0, rename(dir + "/..data_tmp", dir + "/..data") == 0 else {
            throw PodConfigError("volume \"\(volume)\": swapping ..data: \(String(cString: strerror(errno)))")
        }
        for name in topLevel where readLink(dir + "/" + name) == nil {
            if symlink("..data/" + name, dir + "/" + name) != 0 && errno != EEXIST {
                throw PodConfigError("volume \"\(volume)\": linking \(name): \(String(cString: strerror(errno)))")
            }
        }
        // Names no longer in the data, and the old version directory, go.
        for name in FileIO.listDirectory(dir) where !name.hasPrefix("..") && !topLevel.contains(name) {
            if readLink(dir + "/" + name)?.hasPrefix("..data/") == true { unlink(dir + "/" + name) }
        }
        if let previous, previous != versionName, previous.hasPrefix("..") { try? FileIO.removeTree(dir + "/" + previous) }
    }

    /// The current version holds exactly these files, bytes and modes (a refresh then writes nothing).
    static func unchanged(_ dir: String, files: [(String, [UInt8], mode_t)]) -> Bool {
        guard readLink(dir + "/..data") != nil else { return false }
        for (path, bytes, mode) in files {
            var st = stat()
            let full = dir + "/..data/" + path
            guard stat(full, &st) == 0, st.st_mode & 0o7777 == mode, (try? FileIO.read(full)) == bytes else { return false }
        }
        func count(_ d: String) -> Int {
            FileIO.listDirectory(d).reduce(0) { n, name in
                var st = stat()
                guard lstat(d + "/" + name, &st) == 0 else { return n }
                return n + ((st.st_mode & S_IFMT) == S_IFDIR ? count(d + "/" + name) : 1)
            }
        }
        return count(dir + "/..data") == files.count
    }

    static func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buf, buf.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
