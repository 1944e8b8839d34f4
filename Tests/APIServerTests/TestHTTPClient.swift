// A small blocking HTTP/1.1 client over a socket, for talking to the API server in tests:
// whole responses (Content-Length) and chunked watch streams read line by line.
import API
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct HTTPResponse {
    var code: Int
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
}

final class TestConnection {
    let fd: Int32
    var buffer: [UInt8] = []

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw TestHTTPError("connect to 127.0.0.1:\(port) failed: errno \(errno)") }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestHTTPError("send failed: errno \(errno)") }
            off += n
        }
    }

    func sendRequest(_ method: String, _ path: String, body: String? = nil, contentType: String = "application/json",
                     accept: String = "application/json") throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: \(accept)\r\n"
        if let body { head += "Content-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\n" }
        head += "\r\n"
        try send(Array(head.utf8) + Array((body ?? "").utf8))
    }

    /// Reads more bytes; false on EOF or timeout.
    func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    func readLine() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 0x0a) {
                let line = String(decoding: buffer[..<i], as: UTF8.self).trimmingCharacters(in: .init(charactersIn: "\r"))
                buffer.removeFirst(i + 1)
                return line
            }
            guard fill() else { throw TestHTTPError("connection closed while reading a line") }
        }
    }

    func readBytes(_ n: Int) throws -> [UInt8] {
        while buffer.count < n { guard fill() else { throw TestHTTPError("connection closed while reading \(n) bytes") } }
        let out = Array(buffer[..<n])
        buffer.removeFirst(n)
        return out
    }

    func readHead() throws -> (Int, [String: String]) {
        let status = try readLine()
        let parts = status.split(separator: " ")
        guard parts.count >= 2, let code = Int(parts[1]) else { throw TestHTTPError("bad status line \(status)") }
        var headers: [String: String] = [:]
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            if let c = line.firstIndex(of: ":") {
                headers[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return (code, headers)
    }

    func readResponse() throws -> HTTPResponse {
        let (code, headers) = try readHead()
        if let len = headers["content-length"].flatMap(Int.init) {
            return HTTPResponse(code: code, headers: headers, body: try readBytes(len))
        }
        var body: [UInt8] = []
        while let chunk = try nextChunk() { body += chunk }
        return HTTPResponse(code: code, headers: headers, body: body)
    }

    /// The next chunk of a chunked body; nil at its end.
    func nextChunk() throws -> [UInt8]? {
        let sizeLine = try readLine()
        guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { throw TestHTTPError("bad chunk size \(sizeLine)") }
        if size == 0 { _ = try readLine(); return nil }
        let data = try readBytes(size)
        _ = try readLine()
        return data
    }
}

struct TestHTTPError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A client for one server port: a request per call on a fresh keep-alive connection.
struct TestClient {
    let port: Int

    func request(_ method: String, _ path: String, _ body: String? = nil, contentType: String = "application/json",
                 accept: String = "application/json") throws -> HTTPResponse {
        let c = try TestConnection(port: port)
        try c.sendRequest(method, path, body: body, contentType: contentType, accept: accept)
        return try c.readResponse()
    }

    func get(_ path: String, accept: String = "application/json") throws -> HTTPResponse { try request("GET", path, accept: accept) }
    func post(_ path: String, _ body: String) throws -> HTTPResponse { try request("POST", path, body) }
    func put(_ path: String, _ body: String) throws -> HTTPResponse { try request("PUT", path, body) }
    func delete(_ path: String, _ body: String? = nil) throws -> HTTPResponse { try request("DELETE", path, body) }
    func patch(_ path: String, _ body: String, type: String = "application/merge-patch+json") throws -> HTTPResponse {
        try request("PATCH", path, body, contentType: type)
    }

    /// Opens a watch; events are read with `next()`.
    func watch(_ path: String, accept: String = "application/json") throws -> WatchStream {
        let c = try TestConnection(port: port)
        try c.sendRequest("GET", path, accept: accept)
        let (code, _) = try c.readHead()
        guard code == 200 else { throw TestHTTPError("watch \(path) answered \(code)") }
        return WatchStream(connection: c)
    }
}

final class WatchStream {
    let connection: TestConnection
    var pending: [UInt8] = []

    init(connection: TestConnection) { self.connection = connection }

    /// The next event ({"type":..., "object":...}); nil when the stream ends.
    func next() throws -> JSONValue? {
        while true {
            if let i = pending.firstIndex(of: 0x0a) {
                let line = Array(pending[..<i])
                pending.removeFirst(i + 1)
                if line.isEmpty { continue }
                return try JSONValue.parse(line)
            }
            guard let chunk = try connection.nextChunk() else { return nil }
            pending += chunk
        }
    }
}
