// The file operations cgroups need, behind a protocol so the logic is testable with a fake.
#if canImport(Glibc)
import Glibc
#endif

public protocol CgroupFS: Sendable {
    func read(_ path: String) throws -> String
    /// One write(2) of the whole value: cgroup files reject split writes.
    func write(_ path: String, _ value: String) throws
    /// Creates a directory; returns false if it already existed.
    func mkdir(_ path: String) throws -> Bool
    func rmdir(_ path: String) throws
    func exists(_ path: String) -> Bool
}

public struct CgroupError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable { case unavailable, io, busy, invalid }
    public let code: Code
    public let message: String
    public let errno: Int32

    public init(_ code: Code, _ message: String, errno: Int32 = 0) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String {
        errno == 0 ? message : "\(message): \(String(cString: strerror(errno)))"
    }
}

/// The kernel's cgroup filesystems.
public struct RealCgroupFS: CgroupFS {
    public init() {}

    public func read(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CgroupError(.io, "open \(path)", errno: errno) }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw CgroupError(.io, "read \(path)", errno: errno) }
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public func write(_ path: String, _ value: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CgroupError(.io, "open \(path)", errno: errno) }
        defer { close(fd) }
        let n = value.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard n == value.utf8.count else {
            throw CgroupError(.io, "write \"\(value)\" to \(path)", errno: n < 0 ? errno : EIO)
        }
    }

    public func mkdir(_ path: String) throws -> Bool {
        if Glibc.mkdir(path, 0o755) == 0 { return true }
        if errno == EEXIST { return false }
        throw CgroupError(.io, "mkdir \(path)", errno: errno)
    }

    public func rmdir(_ path: String) throws {
        if Glibc.rmdir(path) == 0 || errno == ENOENT { return }
        throw CgroupError(errno == EBUSY ? .busy : .io, "rmdir \(path)", errno: errno)
    }

    public func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}
