// Small file helpers over Glibc: whole-file reads, atomic writes, mkdir -p, recursive removal.
#if canImport(Glibc)
import Glibc
#endif
import Images

public enum FileIO {
    public static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RuntimeError.posix(errno == ENOENT ? .notFound : .io, "open", path: path) }
        defer { close(fd) }
        var out: [UInt8] = []
        // Sized to the file (most are small records): no 64 KiB buffer to clear for every read.
        var st = stat()
        let size = fstat(fd, &st) == 0 ? Int(st.st_size) : 0
        var buf = [UInt8](repeating: 0, count: min(max(size + 1, 512), 65536))
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw RuntimeError.posix(.io, "read", path: path)
            }
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    public static func readString(_ path: String) throws -> String { String(decoding: try read(path), as: UTF8.self) }

    /// Writes to a temp file beside `path`, then renames over it: readers see old or new, never a
    /// torn file. No fsync: container state does not outlive a reboot, and run latency matters.
    public static func writeAtomic(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw RuntimeError.posix(.io, "create", path: tmp) }
        var ok = true
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; ok = false; return }
                off += n
            }
        }
        let savedErrno = errno
        close(fd)
        guard ok else { unlink(tmp); throw RuntimeError.posix(.io, "write", path: tmp, errno: savedErrno) }
        guard rename(tmp, path) == 0 else {
            let e = errno; unlink(tmp)
            throw RuntimeError.posix(.io, "rename to", path: path, errno: e)
        }
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// mkdir -p. From the leaf up: where the parent exists (nearly always) it is one syscall.
    public static func mkdirAll(_ path: String, mode: mode_t = 0o755) throws {
        if mkdir(path, mode) == 0 { return }
        switch errno {
        case EEXIST:
            if isDirectory(path) { return }
            throw RuntimeError.posix(.io, "mkdir", path: path)
        case ENOENT:
            let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
            guard let slash = trimmed.lastIndex(of: "/"), slash != trimmed.startIndex else {
                throw RuntimeError.posix(.io, "mkdir", path: path)
            }
            try mkdirAll(String(trimmed[..<slash]), mode: mode)
            if mkdir(trimmed, mode) != 0 && errno != EEXIST { throw RuntimeError.posix(.io, "mkdir", path: trimmed) }
        default:
            throw RuntimeError.posix(.io, "mkdir", path: path)
        }
    }

    public static func listDirectory(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        return DirectoryEntries.names(dir)
    }

    /// rm -rf that never follows symlinks and never descends into another mount.
    public static func removeTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw RuntimeError.posix(.io, "lstat", path: path)
        }
        try removeTree(path, device: st.st_dev)
    }

    private static func removeTree(_ path: String, device: dev_t) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { if errno == ENOENT { return }; throw RuntimeError.posix(.io, "lstat", path: path) }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard st.st_dev == device else {
                throw RuntimeError(.io, "refusing to remove \(path): it is a mount point (unmount it first)")
            }
            for name in listDirectory(path) { try removeTree(path + "/" + name, device: device) }
            if rmdir(path) != 0 && errno != ENOENT { throw RuntimeError.posix(.io, "rmdir", path: path) }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw RuntimeError.posix(.io, "unlink", path: path)
        }
    }
}
