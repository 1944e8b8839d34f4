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
        var cHeaders = headers.map { strdup($0) }
        defer { for h in cHeaders { free(h) } }
        var response = skiff_curl_response()
        let rc: Int32 = url.withCString { urlPtr in
            method.withCString { methodPtr in
                (body ?? []).withUnsafeBytes { bodyPtr in
                    cHeaders.withUnsafeMutableBufferPointer { hp in
                        hp.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(hp.count, 1)) { headerArray in
                            var req = skiff_curl_request()
                            req.url = urlPtr
                            req.headers = UnsafePointer(headerArray)
                            req.header_count = Int32(hp.count)
                            req.insecure = tls.insecure ? 1 : 0
                            req.connect_timeout_seconds = connectTimeout
                            req.timeout_seconds = timeout
                            req.method = method == "GET" ? nil : methodPtr
                            if body != nil { req.body = bodyPtr.baseAddress; req.body_len = bodyPtr.count }
                            req.long_lived = longLived ? 1 : 0
                            req.cancel = cancel.map { UnsafeMutablePointer($0.flag) }
                            req.share = pool?.share
                            return withOptionalCString(tls.caFile) { ca in
                                withOptionalCString(tls.certFile) { cert in
                                    withOptionalCString(tls.keyFile) { key in
                                      withOptionalBytes(tls.caPEM) { caPEM in
                                       withOptionalBytes(tls.certPEM) { certPEM in
                                        withOptionalBytes(tls.keyPEM) { keyPEM in
                                        req.ca_file = ca
                                        req.cert_file = cert
                                        req.key_file = key
                                        if let caPEM { req.ca_pem = caPEM.baseAddress; req.ca_pem_len = caPEM.count }
                                        if let certPEM { req.cert_pem = certPEM.baseAddress; req.cert_pem_len = certPEM.count }
                                        if let keyPEM { req.key_pem = keyPEM.baseAddress; req.key_pem_len = keyPEM.count }
                                        return skiff_curl_get(&req, { data, len, status, ctx in
                                            let sink = Unmanaged<BodySink>.fromOpaque(ctx!).takeUnretainedValue()
                                            let bytes = UnsafeRawBufferPointer(start: data, count: len)
                                            do {
                                                // Only a 2xx body is the content; an error body is kept for the message.
                                                if let onBytes = sink.onBytes, (200..<300).contains(status) {
                                                    try onBytes(bytes)
                                                } else {
                                                    let limit = sink.onBytes == nil ? sink.limit : 65536
                                                    if let limit, sink.body.count + len > limit {
                                                        throw HTTPTransferError("response larger than \(limit) bytes")
                                                    }
                                                    sink.body.append(contentsOf: bytes)
                                                }
                                                return len
                                            } catch {
                                                sink.error = error
                                                return 0
                                            }
                                        }, ctx.toOpaque(), &response)
                                        }
                                       }
                                      }
                                    }
                                }
                            }
                        }
                    }
                }
            }
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

    private static func withOptionalBytes<R>(_ b: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard let b else { return body(nil) }
        return b.withUnsafeBytes { body($0) }
    }

    private static func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let s else { return body(nil) }
        return s.withCString { body($0) }
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
