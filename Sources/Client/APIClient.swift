// A small blocking HTTP/1.1 client for the Kubernetes API: one keep-alive connection, whole
// responses (Content-Length or chunked), and watch streams read event by event. Plain HTTP over
// its own socket; HTTPS (the master off loopback) through libcurl with the CA, a client
// certificate or a bearer token from ClientCredentials.
import API
import Foundation
import HTTPTransfer
import Synchronization
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

/// How to reach and prove ourselves to a server: the CA to trust, a client certificate, a token.
public struct ClientCredentials: Sendable {
    public var tls = TLSOptions()
    public var token: String?

    public init(caFile: String? = nil, token: String? = nil) {
        tls.caFile = caFile
        self.token = token
    }

    public init(tls: TLSOptions, token: String?) { self.tls = tls; self.token = token }

    private static let registry = Mutex<[String: ClientCredentials]>([:])

    /// Every APIClient for `server` (a base URL) uses these from now on.
    public static func register(server: String, _ credentials: ClientCredentials) {
        registry.withLock { $0[normalized(server)] = credentials }
    }

    public static func lookup(_ server: String) -> ClientCredentials? { registry.withLock { $0[normalized(server)] } }

    static func normalized(_ server: String) -> String { server.hasSuffix("/") ? String(server.dropLast()) : server }
}

public final class APIClient: @unchecked Sendable {
    public let host: String
    public let port: Int
    public let baseURL: String
    private var connection: Connection?
    let credentials: ClientCredentials?
    let https: Bool
    private let pool: ConnectionPool?
    /// Sent as User-Agent: the API server records writes under its first word (managedFields'
    /// manager), so components say who they are, as kube-controller-manager and kubelet do.
    public let userAgent: String

    /// `server` is "http://host:port" or "https://host:port" (credentials from ClientCredentials).
    public init(server: String, userAgent: String = "skiffctl") throws {
        self.userAgent = userAgent
        guard let url = URL(string: server), let host = url.host, url.scheme == "http" || url.scheme == "https" else {
            throw ClientError("invalid server URL \(server) (want http:// or https://host:port)")
        }
        self.host = host
        https = url.scheme == "https"
        port = url.port ?? (https ? 443 : 80)
        baseURL = ClientCredentials.normalized(server)
        credentials = ClientCredentials.lookup(server)
        pool = https ? ConnectionPool() : nil
    }

    var extraHeaders: [String] { credentials?.token.map { ["Authorization: Bearer \($0)"] } ?? [] }

    /// A request over HTTPS (libcurl); `onBytes` streams a 2xx body instead of keeping it.
    func tlsRequest(_ method: String, _ path: String, body: [UInt8]?, contentType: String, accept: String, longLived: Bool = false,
                    cancel: TransferCancel? = nil, onBytes: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> APIResponse {
        var headers = ["Accept: \(accept)", "User-Agent: \(userAgent)", "Expect:"] + extraHeaders
        if body != nil { headers.append("Content-Type: \(contentType)") }
        do {
            let r = try Transfer.perform(method, baseURL + path, headers: headers, body: body, tls: credentials?.tls ?? TLSOptions(),
                                         limit: 256 << 20, longLived: longLived, connectTimeout: 10, pool: pool, cancel: cancel, onBytes: onBytes)
            return APIResponse(code: r.status, headers: r.headers, body: r.body)
        } catch let e as HTTPTransferError {
            throw ClientError(e.description)
        }
    }

    public func request(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String = "application/json",
                        accept: String = "application/json") throws -> APIResponse {
        if https { return try tlsRequest(method, path, body: body, contentType: contentType, accept: accept) }
        // One retry on a fresh connection: the server may have closed an idle keep-alive.
        for attempt in 0..<2 {
            let conn = try connection ?? Connection(host: host, port: port)
            connection = conn
            do {
                try conn.send(method: method, path: path, host: host, body: body, contentType: contentType, accept: accept, extra: extraHeaders, userAgent: userAgent)
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
        if https { return try tlsWatch(path, accept: accept) }
        let conn = try Connection(host: host, port: port)
        try conn.send(method: "GET", path: path, host: host, body: nil, contentType: "", accept: accept, extra: extraHeaders, userAgent: userAgent)
        let (code, headers) = try conn.readHead()
        guard code == 200 else {
            let body = try conn.readBody(headers)
            throw ClientError(APIResponse(code: code, headers: headers, body: body).errorMessage)
        }
        let chunked = headers["transfer-encoding"]?.lowercased() == "chunked"
        return WatchReader(next: {
            if chunked { return try conn.nextChunk() }
            guard conn.fill() else { return nil }
            defer { conn.buffer.removeAll() }
            return conn.buffer
        }, close: { conn.close() })
    }

    /// A watch over HTTPS: a thread runs the transfer and hands its bytes to the reader.
    func tlsWatch(_ path: String, accept: String) throws -> WatchReader {
        let queue = ByteQueue()
        let cancel = TransferCancel()
        let opened = DispatchSemaphore(value: 0)
        let failure = Mutex<ClientError?>(nil)
        Thread.detachNewThread { [self] in
            var signalled = false
            do {
                let r = try tlsRequest("GET", path, body: nil, contentType: "", accept: accept, longLived: true, cancel: cancel) { bytes in
                    if !signalled { signalled = true; opened.signal() }
                    queue.push(Array(bytes))
                }
                if r.code != 200 { failure.withLock { $0 = ClientError(r.errorMessage) } }
            } catch let e as ClientError {
                if !cancel.isCancelled { failure.withLock { $0 = e } }
            } catch {
                failure.withLock { $0 = ClientError("\(error)") }
            }
            if !signalled { opened.signal() }
            queue.finish()
        }
        opened.wait()
        if let e = failure.withLock({ $0 }) { throw e }
        return WatchReader(next: { queue.pop() }, close: { cancel.cancel() })
    }

    /// Streams a body (pods/log with follow) to `sink` as it arrives.
    public func stream(_ path: String, to sink: @escaping ([UInt8]) -> Void) throws {
        if https {
            let r = try tlsRequest("GET", path, body: nil, contentType: "", accept: "*/*", longLived: true) { sink(Array($0)) }
            if r.code != 200 { throw ClientError(r.errorMessage) }
            return
        }
        let conn = try Connection(host: host, port: port)
        try conn.send(method: "GET", path: path, host: host, body: nil, contentType: "", accept: "*/*", extra: extraHeaders, userAgent: userAgent)
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

/// Bytes handed from a transfer thread to a reader.
final class ByteQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var chunks: [[UInt8]] = []
    private var done = false

    func push(_ b: [UInt8]) { condition.lock(); chunks.append(b); condition.signal(); condition.unlock() }
    func finish() { condition.lock(); done = true; condition.broadcast(); condition.unlock() }
    func pop() -> [UInt8]? {
        condition.lock(); defer { condition.unlock() }
        while chunks.isEmpty && !done { condition.wait() }
        return chunks.isEmpty ? nil : chunks.removeFirst()
    }
}

/// Events of one watch, in order.
public final class WatchReader: @unchecked Sendable {
    let nextBytes: () throws -> [UInt8]?
    let closeSource: () -> Void
    var pending: [UInt8] = []

    init(next: @escaping () throws -> [UInt8]?, close: @escaping () -> Void) { nextBytes = next; closeSource = close }

    /// The next event ({"type": ..., "object": ...}); nil when the server ends the watch.
    public func next() throws -> JSONValue? {
        while true {
            if let i = pending.firstIndex(of: 0x0a) {
                let line = Array(pending[..<i])
                pending.removeFirst(i + 1)
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x0d }) { continue }
                do { return try JSONValue.parse(line) } catch { throw ClientError("bad watch event: \(error)") }
            }
            guard let chunk = try nextBytes() else { return nil }
            pending += chunk
        }
    }

    public func close() { closeSource() }
}

final class Connection {
    private var fd: Int32
    /// Set when the connection speaks TLS (exec/attach against an HTTPS master).
    private var tls: TLSSession?
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

    /// A TLS connection: the socket, then the handshake with `options`.
    convenience init(host: String, port: Int, tls options: TLSOptions) throws {
        try self.init(host: host, port: port)
        tls = try TLSSession(fd: fd, host: host, tls: options)
    }

    deinit { close() }

    func close() {
        tls = nil
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    func send(method: String, path: String, host: String, body: [UInt8]?, contentType: String, accept: String, extra: [String] = [],
              userAgent: String) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nAccept: \(accept)\r\nUser-Agent: \(userAgent)\r\n"
        for h in extra { head += h + "\r\n" }
        if let body { head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n" }
        head += "\r\n"
        try write(Array(head.utf8) + (body ?? []))
    }

    func write(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { tls?.write($0) ?? Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw ClientError("connection lost while sending: \(String(cString: strerror(errno)))") }
            off += n
        }
    }

    func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { tls?.read($0) ?? recv(fd, $0.baseAddress, $0.count, 0) }
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
