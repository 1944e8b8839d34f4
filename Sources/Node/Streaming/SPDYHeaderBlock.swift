// SPDY/3 name/value header blocks: a count, then length-prefixed names and values (several
// values of one name joined by NUL), compressed with zlib and the SPDY dictionary. Each
// direction of a session is one zlib stream flushed (Z_SYNC_FLUSH) after every block, so the
// compressor and decompressor live as long as the session.
import CZlib

struct SPDYError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Header names are lowercase on the wire (SPDY/3 §2.6.10); lookups here ignore case.
struct SPDYHeaders: Sendable {
    var pairs: [(name: String, value: String)] = []

    func first(_ name: String) -> String? {
        let lower = name.lowercased()
        return pairs.first { $0.name.lowercased() == lower }?.value
    }

    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func put32(_ v: Int) { out += [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        put32(pairs.count)
        for (name, value) in pairs {
            let n = Array(name.lowercased().utf8), v = Array(value.utf8)
            put32(n.count); out += n
            put32(v.count); out += v
        }
        return out
    }

    static func decode(_ bytes: [UInt8]) throws -> SPDYHeaders {
        var at = 0
        func get32() throws -> Int {
            guard at + 4 <= bytes.count else { throw SPDYError("truncated header block") }
            defer { at += 4 }
            return Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        }
        func string() throws -> String {
            let n = try get32()
            guard n <= bytes.count - at else { throw SPDYError("header length \(n) past the block's end") }
            defer { at += n }
            return String(decoding: bytes[at..<(at + n)], as: UTF8.self)
        }
        let count = try get32()
        guard count <= bytes.count / 8 else { throw SPDYError("header block claims \(count) headers") }
        var headers = SPDYHeaders()
        for _ in 0..<count {
            let name = try string(), value = try string()
            for v in value.split(separator: "\0", omittingEmptySubsequences: false) { headers.pairs.append((name, String(v))) }
        }
        return headers
    }
}

/// One direction's zlib stream. Not thread-safe: a session uses it on its event loop only.
final class SPDYHeaderCompressor {
    private var stream = z_stream()
    private var ok = false

    init() {
        guard deflateInit_(&stream, Z_BEST_COMPRESSION, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return }
        let dictionary = SPDYDictionary.bytes
        ok = dictionary.withUnsafeBufferPointer { deflateSetDictionary(&stream, $0.baseAddress, UInt32($0.count)) } == Z_OK
    }

    deinit { deflateEnd(&stream) }

    func compress(_ headers: SPDYHeaders) throws -> [UInt8] {
        guard ok else { throw SPDYError("zlib deflate could not start") }
        var input = headers.encoded()
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        try input.withUnsafeMutableBufferPointer { inp in
            stream.next_in = inp.baseAddress
            stream.avail_in = UInt32(inp.count)
            repeat {
                let produced = try chunk.withUnsafeMutableBufferPointer { buf -> Int in
                    stream.next_out = buf.baseAddress
                    stream.avail_out = UInt32(buf.count)
                    let rc = deflate(&stream, Z_SYNC_FLUSH)
                    guard rc == Z_OK || rc == Z_BUF_ERROR else { throw SPDYError("zlib deflate failed (\(rc))") }
                    return buf.count - Int(stream.avail_out)
                }
                out += chunk[0..<produced]
            } while stream.avail_out == 0
            stream.next_in = nil
        }
        return out
    }
}

final class SPDYHeaderDecompressor {
    private var stream = z_stream()
    private let ok: Bool

    init() { ok = inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK }

    deinit { inflateEnd(&stream) }

    /// The block of one frame; a block over 1 MiB is refused (no header we know is near that).
    func decompress(_ compressed: [UInt8]) throws -> SPDYHeaders {
        guard ok else { throw SPDYError("zlib inflate could not start") }
        var input = compressed
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        try input.withUnsafeMutableBufferPointer { inp in
            stream.next_in = inp.baseAddress
            stream.avail_in = UInt32(inp.count)
            while stream.avail_in > 0 || stream.avail_out == 0 {
                let produced = try chunk.withUnsafeMutableBufferPointer { buf -> Int in
                    stream.next_out = buf.baseAddress
                    stream.avail_out = UInt32(buf.count)
                    var rc = inflate(&stream, Z_SYNC_FLUSH)
                    if rc == Z_NEED_DICT {
                        rc = SPDYDictionary.bytes.withUnsafeBufferPointer { inflateSetDictionary(&stream, $0.baseAddress, UInt32($0.count)) }
                        if rc == Z_OK { rc = inflate(&stream, Z_SYNC_FLUSH) }
                    }
                    guard rc == Z_OK || rc == Z_BUF_ERROR else { throw SPDYError("corrupt header block (zlib \(rc))") }
                    return buf.count - Int(stream.avail_out)
                }
                out += chunk[0..<produced]
                guard out.count <= 1 << 20 else { throw SPDYError("header block over 1 MiB") }
                if produced == 0 && stream.avail_in > 0 { throw SPDYError("corrupt header block (no progress)") }
                if produced < chunk.count && stream.avail_in == 0 { break }
            }
            stream.next_in = nil
        }
        return try SPDYHeaders.decode(out)
    }
}
