// Unpacks one layer tar into a directory overlayfs can use as a lower layer — safely.
//
// Every entry is created relative to directory fds opened component by component with
// O_NOFOLLOW, so no entry can land outside the layer directory: `..`, absolute paths, a symlink
// in the layer followed by an entry beneath it, or a hard link pointing outside are refused.
// OCI whiteouts become overlay whiteouts (.wh.NAME → char device 0:0; .wh..wh..opq → the
// trusted.overlay.opaque xattr).
import CLinux
#if canImport(Glibc)
import Glibc
#endif

public struct LayerUnpacker {
    let layerName: String
    let root: String
    let rootFD: Int32
    private let isRoot = geteuid() == 0
    /// Directory metadata is applied last: creating children changes a directory's mtime.
    private var directories: [(path: [String], entry: TarEntry)] = []

    /// Unpacks into `root`, which must be an existing empty directory.
    public static func unpack(_ reader: TarReader, into root: String, layerName: String) throws {
        var unpacker = try LayerUnpacker(root: root, layerName: layerName)
        defer { close(unpacker.rootFD) }
        try unpacker.run(reader)
    }

    init(root: String, layerName: String) throws {
        self.root = root
        self.layerName = layerName
        rootFD = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rootFD >= 0 else { throw ImageError(.io, "open \(root): \(String(cString: strerror(errno)))") }
    }

    mutating func run(_ reader: TarReader) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 17, alignment: 16)
        defer { buffer.deallocate() }
        while let entry = try reader.next() {
            try apply(entry, reader: reader, buffer: buffer)
        }
        for (path, entry) in directories.reversed() {
            let parent = try openParent(path, create: false)
            defer { close(parent) }
            try setMetadata(parent, path.last ?? ".", entry, isLink: false)
        }
    }

    // MARK: entries

    private mutating func apply(_ entry: TarEntry, reader: TarReader, buffer: UnsafeMutableRawBufferPointer) throws {
        let components = try Self.components(of: entry.path, layer: layerName)
        guard let name = components.last else { return }   // "./" itself: the layer root
        let parentPath = Array(components.dropLast())

        // OCI whiteouts.
        if name == ".wh..wh..opq" {
            let dir = try openParent(parentPath + ["."], create: true)
            defer { close(dir) }
            try setOpaque(parentPath)
            return
        }
        if name.hasPrefix(".wh.") {
            let hidden = String(name.dropFirst(4))
            guard !hidden.isEmpty, hidden != ".", hidden != ".." else { throw unsafe(entry.path, "invalid whiteout") }
            let parent = try openParent(parentPath + [hidden], create: true)
            defer { close(parent) }
            try removeExisting(parent, hidden)
            guard mknodat(parent, hidden, S_IFCHR | 0, 0) == 0 else { throw posix("whiteout", entry.path) }
            return
        }

        let parent = try openParent(components, create: true)
        defer { close(parent) }
        switch entry.kind {
        case .directory:
            var st = stat()
            if fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                if (st.st_mode & S_IFMT) != S_IFDIR { try removeExisting(parent, name) }
            }
            if mkdirat(parent, name, 0o755) != 0 && errno != EEXIST { throw posix("mkdir", entry.path) }
            directories.append((components, entry))
        case .file:
            try removeExisting(parent, name)
            let fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw posix("create", entry.path) }
            defer { close(fd) }
            while true {
                let n = try reader.readData(into: buffer)
                if n == 0 { break }
                var off = 0
                while off < n {
                    let w = write(fd, buffer.baseAddress! + off, n - off)
                    if w < 0 { if errno == EINTR { continue }; throw posix("write", entry.path) }
                    off += w
                }
            }
            try setMetadata(fd: fd, entry)
        case .symlink:
            try removeExisting(parent, name)
            guard symlinkat(entry.linkName, parent, name) == 0 else { throw posix("symlink", entry.path) }
            try setMetadata(parent, name, entry, isLink: true)
        case .hardlink:
            let target = try Self.components(of: entry.linkName, layer: layerName)
            guard let targetName = target.last else { throw unsafe(entry.path, "hard link to the layer root") }
            let targetParent = try openParent(target, create: false)
            defer { close(targetParent) }
            try removeExisting(parent, name)
            guard linkat(targetParent, targetName, parent, name, 0) == 0 else {
                throw posix("link to \(entry.linkName)", entry.path)
            }
        case .charDevice, .blockDevice, .fifo:
            try removeExisting(parent, name)
            let type: mode_t = entry.kind == .fifo ? S_IFIFO : entry.kind == .charDevice ? S_IFCHR : S_IFBLK
            let dev = dev_t(skiff_makedev(entry.devMajor, entry.devMinor))
            if mknodat(parent, name, type | 0o600, dev) != 0 {
                // Unprivileged unpacking (tests as non-root) can't make device nodes: skip them.
                if errno == EPERM && !isRoot { return }
                throw posix("mknod", entry.path)
            }
            try setMetadata(parent, name, entry, isLink: false)
        }
    }

    // MARK: paths

    /// Splits an entry path into safe components: no absolute paths, no "..".
    static func components(of path: String, layer: String) throws -> [String] {
        guard !path.hasPrefix("/") else {
            throw ImageError(.unsafePath, "layer \(layer): entry \"\(path)\" is an absolute path")
        }
        var out: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            guard part != ".." else {
                throw ImageError(.unsafePath, "layer \(layer): entry \"\(path)\" escapes the layer (\"..\")")
            }
            guard !part.utf8.contains(0) else { throw ImageError(.unsafePath, "layer \(layer): entry has a NUL byte") }
            out.append(String(part))
        }
        return out
    }

    /// Opens the directory holding `components.last`, walking from the layer root without
    /// following symlinks; missing directories are created when `create` is set.
    private func openParent(_ components: [String], create: Bool) throws -> Int32 {
        var fd = dup(rootFD)
        guard fd >= 0 else { throw posix("dup", root) }
        for name in components.dropLast() where name != "." {
            var next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT && create {
                if mkdirat(fd, name, 0o755) != 0 && errno != EEXIST { let e = errno; close(fd); throw posix("mkdir", name, e) }
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            let e = errno
            close(fd)
            guard next >= 0 else {
                if e == ELOOP || e == ENOTDIR {
                    throw unsafe(components.joined(separator: "/"), "a parent (\(name)) is a symlink or not a directory")
                }
                throw posix("open", components.joined(separator: "/"), e)
            }
            fd = next
        }
        return fd
    }

    /// Replaces whatever is at `name`: a later entry of the same path wins.
    private func removeExisting(_ parent: Int32, _ name: String) throws {
        var st = stat()
        guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            let dir = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard dir >= 0 else { throw posix("open", name) }
            try removeContents(dir)
            close(dir)
            guard unlinkat(parent, name, AT_REMOVEDIR) == 0 else { throw posix("rmdir", name) }
        } else if unlinkat(parent, name, 0) != 0 {
            throw posix("unlink", name)
        }
    }

    private func removeContents(_ dirFD: Int32) throws {
        let dup = Glibc.dup(dirFD)
        guard dup >= 0, let dir = fdopendir(dup) else { throw posix("opendir", "") }
        defer { closedir(dir) }
        for name in DirectoryEntries.names(dir) { try removeExisting(dirFD, name) }
    }

    // MARK: metadata

    private func setMetadata(fd: Int32, _ e: TarEntry) throws {
        if fchown(fd, e.uid, e.gid) != 0 && isRoot { throw posix("chown", e.path) }
        // chmod after chown: chown clears setuid/setgid bits.
        guard fchmod(fd, mode_t(e.mode & 0o7777)) == 0 else { throw posix("chmod", e.path) }
        try setXattrs(fd: fd, e)
        var times = [timespec(tv_sec: Int(e.mtime), tv_nsec: 0), timespec(tv_sec: Int(e.mtime), tv_nsec: 0)]
        futimens(fd, &times)
    }

    private func setMetadata(_ parent: Int32, _ name: String, _ e: TarEntry, isLink: Bool) throws {
        if fchownat(parent, name, e.uid, e.gid, AT_SYMLINK_NOFOLLOW) != 0 && isRoot { throw posix("chown", e.path) }
        if !isLink {
            guard fchmodat(parent, name, mode_t(e.mode & 0o7777), 0) == 0 else { throw posix("chmod", e.path) }
            if !e.xattrs.isEmpty {
                let fd = openat(parent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
                if fd >= 0 { defer { close(fd) }; try setXattrs(fd: fd, e) }
            }
        }
        var times = [timespec(tv_sec: Int(e.mtime), tv_nsec: 0), timespec(tv_sec: Int(e.mtime), tv_nsec: 0)]
        utimensat(parent, name, &times, AT_SYMLINK_NOFOLLOW)
    }

    /// Extended attributes from the layer (file capabilities, user.*). trusted.overlay.* would
    /// let a layer steer overlayfs itself: refused.
    private func setXattrs(fd: Int32, _ e: TarEntry) throws {
        for (key, value) in e.xattrs {
            if key.hasPrefix("trusted.overlay.") { throw unsafe(e.path, "overlay xattr \(key)") }
            let rc = value.withUnsafeBytes { fsetxattr(fd, key, $0.baseAddress, $0.count, 0) }
            if rc != 0 && errno != ENOTSUP && errno != EPERM { throw posix("setxattr \(key)", e.path) }
        }
    }

    private func setOpaque(_ dirPath: [String]) throws {
        let parent = try openParent(dirPath + ["."], create: true)
        defer { close(parent) }
        let rc = "y".withCString { fsetxattr(parent, "trusted.overlay.opaque", $0, 1, 0) }
        if rc != 0 && !(errno == EPERM && !isRoot) { throw posix("mark opaque", dirPath.joined(separator: "/")) }
    }

    // MARK: errors

    private func unsafe(_ path: String, _ why: String) -> ImageError {
        ImageError(.unsafePath, "layer \(layerName): entry \"\(path)\" refused: \(why)")
    }

    private func posix(_ what: String, _ path: String, _ e: Int32 = errno) -> ImageError {
        ImageError(.io, "layer \(layerName): \(what) \(path): \(String(cString: strerror(e)))")
    }
}
