// Registry GETs over HTTPTransfer (libcurl), with the registry's own error type.
import Foundation
import HTTPTransfer

public struct RegistryError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

typealias TLSOptions = HTTPTransfer.TLSOptions
typealias FetchResponse = HTTPTransfer.FetchResponse

enum HTTPFetch {
    /// GET `url`; the body is kept in memory (up to `limit` bytes) or streamed to `onBytes`.
    static func get(_ url: String, headers: [String], tls: TLSOptions, limit: Int? = nil,
                    onBytes: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> FetchResponse {
        do {
            return try Transfer.perform("GET", url, headers: headers, tls: tls, limit: limit, onBytes: onBytes)
        } catch let e as HTTPTransferError {
            throw RegistryError(e.description)
        }
    }
}
