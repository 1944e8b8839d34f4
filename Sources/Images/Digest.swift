// Content digests ("sha256:<64 hex>") and a streaming SHA-256 over OpenSSL's libcrypto.
import CCrypto

public struct Digest: Hashable, Codable, Sendable, CustomStringConvertible, Comparable {
    public let hex: String
    public var algorithm: String { "sha256" }
    public var description: String { "sha256:" + hex }

    public init(parsing text: String) throws {
        guard text.hasPrefix("sha256:") else {
            throw ImageError(.invalidReference, "unsupported digest \"\(text)\": only sha256 is supported")
        }
        let hex = String(text.dropFirst(7))
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
            throw ImageError(.invalidReference, "invalid digest \"\(text)\": expected sha256: and 64 lowercase hex digits")
        }
        self.hex = hex
    }

    init(hex: String) { self.hex = hex }

    public init(from decoder: Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public static func < (a: Digest, b: Digest) -> Bool { a.hex < b.hex }

    /// The digest of a byte buffer.
    public static func of(_ bytes: [UInt8]) -> Digest {
        let h = SHA256Hasher()
        h.update(bytes[...])
        return h.finish()
    }
}

/// Incremental SHA-256 through libcrypto's EVP interface (SHA-NI where the CPU has it).
public final class SHA256Hasher {
    private let ctx: OpaquePointer?

    public init() {
        ctx = EVP_MD_CTX_new()
        EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public func update(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func update(_ raw: UnsafeRawBufferPointer) {
        if let base = raw.baseAddress, raw.count > 0 { EVP_DigestUpdate(ctx, base, raw.count) }
    }

    public func finish() -> Digest {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &out, &len)
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for b in out { hex.append(digits[Int(b >> 4)]); hex.append(digits[Int(b & 15)]) }
        return Digest(hex: String(decoding: hex, as: UTF8.self))
    }
}
