// Attaching to a running container's own stdio (kubectl attach/run -i): a connection to its
// monitor's attach socket, which feeds the container's stdin and sends its output live.
// Messages carry a channel byte first (CShims/monitor/attach.h): 0 stdin, 1 stdout, 2 stderr,
// 4 terminal size, 255 end of this client's stdin.
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

public final class AttachConnection: @unchecked Sendable {   // fd: sends from one queue, receives from one thread
    public enum Output: Sendable { case stdout, stderr }
    /// The most payload one message carries (the monitor's ATTACH_DATA_MAX).
    static let chunk = 8192
    let fd: Int32

    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    /// Declares this client carries stdin (for stdinOnce, only such a client's end counts).
    public func claimStdin() -> Bool { send(0, []) }

    /// Sends stdin bytes; blocks while the container does not take them. False once the monitor is gone.
    public func write(_ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let end = min(bytes.count, off + Self.chunk)
            guard send(0, bytes[off..<end]) else { return false }
            off = end
        }
        return true
    }

    /// This client's stdin ended (kubectl's input reached EOF).
    public func endStdin() { _ = send(255, []) }

    public func resize(columns: UInt16, rows: UInt16) {
        var payload = [UInt8](repeating: 0, count: 4)
        withUnsafeBytes(of: columns) { payload[0] = $0[0]; payload[1] = $0[1] }
        withUnsafeBytes(of: rows) { payload[2] = $0[0]; payload[3] = $0[1] }
        _ = send(4, payload[...])
    }

    /// The next piece of output; nil when the monitor closed the connection (the container
    /// exited) or `hangUp` was called.
    public func receive() -> (Output, [UInt8])? {
        var buf = [UInt8](repeating: 0, count: Self.chunk + 1)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            switch buf[0] {
            case 1: return (.stdout, Array(buf[1..<n]))
            case 2: return (.stderr, Array(buf[1..<n]))
            default: continue
            }
        }
    }

    /// Wakes a blocked `receive` and `write` (the client went away).
    public func hangUp() { _ = shutdown(fd, Int32(SHUT_RDWR)) }

    private func send(_ channel: UInt8, _ payload: ArraySlice<UInt8>) -> Bool {
        let message = [channel] + payload
        while true {
            let n = message.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            return n == message.count
        }
    }
}

extension ContainerRuntime {
    /// Connects to the container's attach socket; nil when it has none (no stdin, or stdinOnce
    /// and its stdin already ended).
    public func attach(_ ref: String) throws -> AttachConnection? {
        let record = try store.find(ref)
        let paths = store.paths(record.id)
        guard access(paths.attachSocket, F_OK) == 0 else { return nil }
        // The container directory's path can exceed sun_path: name the socket through its descriptor.
        let dir = open(paths.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw RuntimeError.posix(.io, "opening the container's directory", path: paths.dir) }
        defer { close(dir) }
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RuntimeError.posix(.io, "creating a socket") }
        let connection = AttachConnection(fd: fd)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let name = Array("/proc/self/fd/\(dir)/attach".utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in name.enumerated() where i < raw.count - 1 { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc < 0 {
            // Gone between the check and the connect (stdinOnce ended, or the container exited).
            if errno == ENOENT || errno == ECONNREFUSED { return nil }
            throw RuntimeError.posix(.io, "connecting to the attach socket", path: paths.attachSocket)
        }
        return connection
    }
}
