// HTTP requests through libcurl (TLS with client certificates, redirects, stall timeouts, shared
// keep-alive connections): a bounded body in memory, or a streamed body handed to a sink as it
// arrives. Blocking: callers run it on threads of their own. Used by the registry client and
// the etcd store.
import CCurl
import Foundation

public struct HTTPTransferError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// libcurl's CURLcode (7: could not connect; 0 when the error is not curl's).
    public let curlCode: Int32
    public init(_ d: String, curlCode: Int32 = 0) { description = d; self.curlCode = curlCode }
}

public struct TLSOptions: Sendable, Equatable {
    public var insecure = false
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    /// In-memory PEM instead of files (a kubeconfig's certificate-authority-data and the like).
    public var caPEM: [UInt8]?
    public var certPEM: [UInt8]?
    public var keyPEM: [UInt8]?
    public init(insecure: Bool = false, caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil,
                caPEM: [UInt8]? = nil, certPEM: [UInt8]? = nil, keyPEM: [UInt8]? = nil) {
        self.insecure = insecure; self.caFile = caFile; self.certFile = certFile; self.keyFile = keyFile
        self.caPEM = caPEM; self.certPEM = certPEM; self.keyPEM = keyPEM
    }
}

public struct FetchResponse: Sendable {
    public var status: Int
    public var headers: [String: String]   // lowercased names
    public var body: [UInt8]
}

/// A connection cache requests share (keep-alive across threads).
public final class ConnectionPool: @unchecked Sendable {
    let share: UnsafeMutableRawPointer?
    public init() { share = skiff_curl_share_new() }
}

/// A flag that stops a running transfer (within about a second) when set.
public final class TransferCancel: @unchecked Sendable {
    let flag = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    public init() { flag.initialize(to: 0) }
    deinit { flag.deallocate() }
    public func cancel() { flag.pointee = 1 }
    public var isCancelled: Bool { flag.pointee != 0 }
}

/// C strings and buffers for one request (freed with it).
final class CArguments {
    private var allocations: [UnsafeMutableRawPointer] = []

    func string(_ s: String) -> UnsafePointer<CChar> {
        let p = strdup(s)!
        allocations.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    func bytes(_ b: [UInt8]) -> (UnsafeRawPointer, Int) {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(b.count, 1), alignment: 1)
        b.withUnsafeBytes { if let base = $0.baseAddress { p.copyMemory(from: base, byteCount: b.count) } }
        allocations.append(p)
        return (UnsafeRawPointer(p), b.count)
    }

    deinit { for p in allocations { free(p) } }
}

/// Receives body bytes; throwing stops the transfer (the error is rethrown by the request).
final class BodySink {
    let limit: Int?
    var body: [UInt8] = []
    var error: Error?
    let onBytes: ((UnsafeRawBufferPointer) throws -> Void)?

    init(limit: Int?, onBytes: ((UnsafeRawBufferPointer) throws -> Void)?) {
        self.limit = limit
        self.onBytes = onBytes
    }

    /// libcurl's write callback: a 2xx body goes to `onBytes` if set; anything else is kept (bounded) for the message.
    static let receive: skiff_curl_write_fn = { data, len, status, ctx in
        let sink = Unmanaged<BodySink>.fromOpaque(ctx!).takeUnretainedValue()
        let bytes = UnsafeRawBufferPointer(start: data, count: len)
        do {
            if let onBytes = sink.onBytes, (200..<300).contains(status) {
                try onBytes(bytes)
            } else {
                let limit = sink.onBytes == nil ? sink.limit : 65536
                if let limit, sink.body.count + len > limit { throw HTTPTransferError("response larger than \(limit) bytes") }
                sink.body.append(contentsOf: bytes)
            }
            return len
        } catch {
            sink.error = error
            return 0
        }
    }
}

public enum Transfer {
    /// `method` `url` with an optional body; the response body is kept in memory (up to `limit`
    /// bytes) or, for a 2xx answer, streamed to `onBytes`. `longLived`: a stream that may idle.
    public static func perform(_ method: String = "GET", _ url: String, headers: [String] = [], body: [UInt8]? = nil,
                               tls: TLSOptions = TLSOptions(), limit: Int? = nil, longLived: Bool = false,
                               connectTimeout: Int = 15, timeout: Int = 0, pool: ConnectionPool? = nil, cancel: TransferCancel? = nil,
                               onBytes: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> FetchResponse {
        let sink = BodySink(limit: limit, onBytes: onBytes)
        let ctx = Unmanaged.passRetained(sink)
        defer { ctx.release() }
        // C copies of everything the request points at, alive until it returns.
        let c = CArguments()
        let cHeaders: [UnsafePointer<CChar>?] = headers.map { c.string($0) }
        var response = skiff_curl_response()
        let rc: Int32 = cHeaders.withUnsafeBufferPointer { headerArray in
            var req = skiff_curl_request()
            req.url = c.string(url)
            req.headers = headerArray.baseAddress
            req.header_count = Int32(headerArray.count)
            req.method = method == "GET" ? nil : c.string(method)
            if let body { (req.body, req.body_len) = c.bytes(body) }
            req.insecure = tls.insecure ? 1 : 0
            req.connect_timeout_seconds = connectTimeout
            req.timeout_seconds = timeout
            req.long_lived = longLived ? 1 : 0
            req.cancel = cancel.map { UnsafeMutablePointer($0.flag) }
            req.share = pool?.share
            req.ca_file = tls.caFile.map { c.string($0) }
            req.cert_file = tls.certFile.map { c.string($0) }
            req.key_file = tls.keyFile.map { c.string($0) }
            if let pem = tls.caPEM { (req.ca_pem, req.ca_pem_len) = c.bytes(pem) }
            if let pem = tls.certPEM { (req.cert_pem, req.cert_pem_len) = c.bytes(pem) }
            if let pem = tls.keyPEM { (req.key_pem, req.key_pem_len) = c.bytes(pem) }
            return skiff_curl_get(&req, BodySink.receive, ctx.toOpaque(), &response)
        }
        let headerText = response.headers.map { String(cString: $0) } ?? ""
        skiff_curl_free(response.headers)
        if let error = sink.error { throw error }
        if rc != 0 {
            let message = withUnsafeBytes(of: response.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw HTTPTransferError("\(method) \(url): \(message)", curlCode: rc)
        }
        var parsed: [String: String] = [:]
        // "\r\n" is one Character in Swift: split on newlines, not on "\n".
        for line in headerText.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            if let existing = parsed[name] { parsed[name] = existing + ", " + value } else { parsed[name] = value }
        }
        return FetchResponse(status: Int(response.status), headers: parsed, body: sink.body)
    }
}

/// Threads for blocking requests, so async callers can wait on many at once: GCD's global queue
/// on Linux adds threads slowly when work blocks, which throttles a burst to a few in flight.
public final class BlockingPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var work: [() -> Void] = []
    private var head = 0

    public init(threads: Int, name: String) {
        for i in 0..<threads {
            let t = Thread { [self] in loop() }
            t.name = "\(name)-\(i)"
            t.stackSize = 256 << 10
            t.start()
        }
    }

    private func loop() {
        while true {
            condition.lock()
            while head == work.count { condition.wait() }
            let job = work[head]
            head += 1
            if head == work.count { work.removeAll(keepingCapacity: true); head = 0 }
            condition.unlock()
            job()
        }
    }

    /// Runs `body` on one of the pool's threads and waits for it without blocking the caller's thread.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            condition.lock()
            work.append { do { c.resume(returning: try body()) } catch { c.resume(throwing: error) } }
            condition.signal()
            condition.unlock()
        }
    }
}
