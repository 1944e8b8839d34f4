// A small blocking HTTP/1.1 client for the Kubernetes API: one keep-alive connection, whole
// responses (Content-Length or chunked), and watch streams read event by event. Plain HTTP
// only for now (the master serves loopback HTTP until the TLS issue lands).
import API
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct ClientError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

public struct APIResponse: Sendable {
    public var code: Int
    public var headers: [String: String]
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
    public func json() throws -> JSONValue {
        do { return try JSONValue.parse(body) } catch { throw ClientError("the server answered with invalid JSON: \(error)") }
    }
    /// The Status message of an error response, or the body.
    public var errorMessage: String {
        if let v = try? JSONValue.parse(body), let m = v["message"]?.stringValue { return m }
        return text.isEmpty ? "HTTP \(code)" : text
    }
}

public final class APIClient: @unchecked Sendable {
    public let host: String
    public let port: Int
    public let baseURL: String
    private var connection: Connection?

    /// `server` is "http://host:port".
    public init(server: String) throws {
        guard let url = URL(string: server), let host = url.host else { throw ClientError("invalid server URL \(server)") }
        guard url.scheme == "http" else {
            throw ClientError("\(server): only http:// servers are supported until Skiff serves TLS")
        }
        self.host = host
        port = url.port ?? 80
        baseURL = server
    }

    public func request(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String = "application/json",
                        accept: String = "application/json") throws -> APIResponse {
        // One retry on a fresh connection: the server may have closed an idle keep-alive.
        for attempt in 0..<2 {
            let conn = try connection ?? Connection(host: host, port: port)
            connection = conn
            do {
                try conn.send(method: method, path: path, host: host, body: body, contentType: contentType, accept: accept)
                let response = try conn.readResponse()
                if response.headers["connection"]?.lowercased() == "close" { connection = nil }
                return response
            } catch let e as ClientError {
                connection = nil
                if attempt == 1 || !conn.reused { throw e }
            }
        }
        throw ClientError("unreachable")
    }

    public func get(_ path: String, accept: String = "application/json") throws -> APIResponse { try request("GET", path, accept: accept) }

    /// Opens a watch on its own connection; call `next()` for events.
    public func watch(_ path: String, accept: String = "application/json") throws -> WatchReader {
        let conn = try Connection(host: host, port: port)
        try conn.send(method: "GET", path: path, host: host, body: nil, contentType: "", accept: accept)
        let (code, headers) = try conn.readHead()
        guard code == 200 else {
            let body = try conn.readBody(headers)
            throw ClientError(APIResponse(code: code, headers: headers, body: body).errorMessage)
        }
        return WatchReader(connection: conn, chunked: headers["transfer-encoding"]?.lowercased() == "chunked")
    }

    /// Streams a body (pods/log with follow) to `sink` as it arrives.
    public func stream(_ path: String, to sink: ([UInt8]) -> Void) throws {
        let conn = try Connection(host: host, port: port)
        try conn.send(method: "GET", path: path, host: host, body: nil, contentType: "", accept: "*/*")
        let (code, headers) = try conn.readHead()
        guard code == 200 else {
            throw ClientError(APIResponse(code: code, headers: headers, body: try conn.readBody(headers)).errorMessage)
        }
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while let chunk = try conn.nextChunk() { sink(chunk) }
        } else {
            sink(try conn.readBody(headers))
        }
    }
}

/// Events of one watch, in order.
public final class WatchReader: @unchecked Sendable {
    let connection: Connection
    let chunked: Bool
    var pending: [UInt8] = []

    init(connection: Connection, chunked: Bool) { self.connection = connection; self.chunked = chunked }

    /// The next event ({"type": ..., "object": ...}); nil when the server ends the watch.
    public func next() throws -> JSONValue? {
        while true {
            if let i = pending.firstIndex(of: 0x0a) {
                let line = Array(pending[..<i])
                pending.removeFirst(i + 1)
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x0d }) { continue }
                do { return try JSONValue.parse(line) } catch { throw ClientError("bad watch event: \(error)") }
            }
            if chunked {
                guard let chunk = try connection.nextChunk() else { return nil }
                pending += chunk
            } else {
                guard connection.fill() else { return nil }
                pending += connection.buffer
                connection.buffer.removeAll()
            }
        }
    }

    public func close() { connection.close() }
}

final class Connection {
    private var fd: Int32
    var buffer: [UInt8] = []
    /// Set once a response was read: a failure then may just be a stale keep-alive.
    var reused = false

    init(host: String, port: Int) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw ClientError("cannot resolve \(host)")
        }
        defer { freeaddrinfo(result) }
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        var lastErrno: Int32 = 0
        fd = -1
        while let ai = candidate {
            let s = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            if s >= 0 {
                if connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { fd = s; break }
                lastErrno = errno
                Glibc.close(s)
            }
            candidate = ai.pointee.ai_next
        }
        guard fd >= 0 else {
            throw ClientError("cannot connect to \(host):\(port): \(String(cString: strerror(lastErrno)))")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    func send(method: String, path: String, host: String, body: [UInt8]?, contentType: String, accept: String) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nAccept: \(accept)\r\nUser-Agent: skiffctl\r\n"
        if let body { head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n" }
        head += "\r\n"
        try write(Array(head.utf8) + (body ?? []))
    }

    func write(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw ClientError("connection lost while sending: \(String(cString: strerror(errno)))") }
            off += n
        }
    }

    func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    func readLine() throws -> String {
        var scanned = 0
        while true {
            if let i = buffer[scanned...].firstIndex(of: 0x0a) {
                var end = i
                if end > 0, buffer[end - 1] == 0x0d { end -= 1 }
                let line = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(i + 1)
                return line
            }
            scanned = buffer.count
            guard fill() else { throw ClientError("the server closed the connection") }
        }
    }

    func readBytes(_ n: Int) throws -> [UInt8] {
        while buffer.count < n { guard fill() else { throw ClientError("the server closed the connection mid-response") } }
        let out = Array(buffer[..<n])
        buffer.removeFirst(n)
        return out
    }

    func readHead() throws -> (Int, [String: String]) {
        let status = try readLine()
        let parts = status.split(separator: " ")
        guard parts.count >= 2, let code = Int(parts[1]) else { throw ClientError("not an HTTP response: \(status.prefix(80))") }
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

    func readBody(_ headers: [String: String]) throws -> [UInt8] {
        if let len = headers["content-length"].flatMap(Int.init) { return try readBytes(len) }
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var body: [UInt8] = []
            while let chunk = try nextChunk() { body += chunk }
            return body
        }
        while fill() {}
        defer { buffer.removeAll() }
        return buffer
    }

    func readResponse() throws -> APIResponse {
        let (code, headers) = try readHead()
        let body = try readBody(headers)
        reused = true
        return APIResponse(code: code, headers: headers, body: body)
    }

    func nextChunk() throws -> [UInt8]? {
        let sizeLine = try readLine()
        guard let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else {
            throw ClientError("bad chunk size \(sizeLine.prefix(20))")
        }
        if size == 0 { _ = try readLine(); return nil }
        let data = try readBytes(size)
        _ = try readLine()
        return data
    }
}
