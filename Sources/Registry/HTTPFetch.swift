// HTTP GETs through libcurl (TLS, redirects to blob storage, stall timeouts): a bounded body
// in memory, or a streamed body handed to a sink as it arrives.
import CCurl
import Foundation

public struct RegistryError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

struct TLSOptions: Sendable {
    var insecure = false
    var caFile: String?
    var certFile: String?
    var keyFile: String?
}

struct FetchResponse {
    var status: Int
    var headers: [String: String]   // lowercased names
    var body: [UInt8]
}

/// Receives body bytes; throwing stops the transfer (the error is rethrown by the fetch).
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

enum HTTPFetch {
    /// GET `url`; the body is kept in memory (up to `limit` bytes) or streamed to `onBytes`.
    static func get(_ url: String, headers: [String], tls: TLSOptions, limit: Int? = nil,
                    onBytes: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> FetchResponse {
        let sink = BodySink(limit: limit, onBytes: onBytes)
        let ctx = Unmanaged.passRetained(sink)
        defer { ctx.release() }
        var cHeaders = headers.map { strdup($0) }
        defer { for h in cHeaders { free(h) } }
        var response = skiff_curl_response()
        let rc: Int32 = url.withCString { urlPtr in
            cHeaders.withUnsafeMutableBufferPointer { hp in
                hp.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: hp.count) { headerArray in
                    var req = skiff_curl_request()
                    req.url = urlPtr
                    req.headers = UnsafePointer(headerArray)
                    req.header_count = Int32(hp.count)
                    req.insecure = tls.insecure ? 1 : 0
                    req.connect_timeout_seconds = 15
                    return withOptionalCString(tls.caFile) { ca in
                        withOptionalCString(tls.certFile) { cert in
                            withOptionalCString(tls.keyFile) { key in
                                req.ca_file = ca
                                req.cert_file = cert
                                req.key_file = key
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
                                                throw RegistryError("response larger than \(limit) bytes")
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
        let headerText = response.headers.map { String(cString: $0) } ?? ""
        skiff_curl_free(response.headers)
        if let error = sink.error { throw error }
        if rc != 0 {
            let message = withUnsafeBytes(of: response.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw RegistryError("GET \(url): \(message)")
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

    private static func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let s else { return body(nil) }
        return s.withCString { body($0) }
    }
}
