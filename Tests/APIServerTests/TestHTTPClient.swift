// Test-side HTTP: the Client target's APIClient with string bodies, plus a raw socket for
// sending the server garbage.
import API
import Client
import Foundation
#if canImport(Glibc)
import Glibc
#endif

typealias HTTPResponse = APIResponse

extension APIResponse {
    var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
}

struct TestHTTPError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A request per call, each on a fresh connection (as separate clients would).
struct TestClient {
    let port: Int
    var server: String { "http://127.0.0.1:\(port)" }

    func request(_ method: String, _ path: String, _ body: String? = nil, contentType: String = "application/json",
                 accept: String = "application/json") throws -> HTTPResponse {
        try APIClient(server: server).request(method, path, body: body.map { Array($0.utf8) }, contentType: contentType, accept: accept)
    }

    func get(_ path: String, accept: String = "application/json") throws -> HTTPResponse { try request("GET", path, accept: accept) }
    func post(_ path: String, _ body: String) throws -> HTTPResponse { try request("POST", path, body) }
    func put(_ path: String, _ body: String) throws -> HTTPResponse { try request("PUT", path, body) }
    func delete(_ path: String, _ body: String? = nil) throws -> HTTPResponse { try request("DELETE", path, body) }
    func patch(_ path: String, _ body: String, type: String = "application/merge-patch+json") throws -> HTTPResponse {
        try request("PATCH", path, body, contentType: type)
    }

    func watch(_ path: String, accept: String = "application/json") throws -> WatchReader {
        try APIClient(server: server).watch(path, accept: accept)
    }
}

/// A bare TCP connection, for bytes that are not HTTP.
final class RawSocket {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw TestHTTPError("connect to 127.0.0.1:\(port) failed: errno \(errno)") }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

    /// Whatever the server answers (or nothing by EOF/timeout).
    func receive() -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buf[0..<n]) : []
    }
}
