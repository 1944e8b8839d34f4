// Streaming byte sources for layer blobs: files, gzip (zlib), zstd, and hashing pass-throughs.
import CZlib
import CZstd
#if canImport(Glibc)
import Glibc
#endif

/// Something that yields bytes in chunks; returns 0 at the end.
public protocol ByteSource: AnyObject {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Reads a file descriptor (not owned).
public final class FileSource: ByteSource {
    let fd: Int32
    let path: String
    public init(fd: Int32, path: String) { self.fd = fd; self.path = path }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw ImageError(.io, "read \(path): \(String(cString: strerror(errno)))") }
        }
    }
}

/// Hashes and counts everything that passes through (a blob's digest, a layer's diff id).
public final class HashingSource: ByteSource {
    let upstream: ByteSource
    public let hasher = SHA256Hasher()
    public private(set) var count: Int64 = 0

    public init(_ upstream: ByteSource) { self.upstream = upstream }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try upstream.read(into: buffer)
        if n > 0 {
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            count += Int64(n)
        }
        return n
    }
}

/// gzip → raw. Concatenated gzip members (pigz) are followed to the end; a stream that stops
/// early is reported as truncated.
public final class GzipSource: ByteSource {
    private let upstream: ByteSource
    private var stream = z_stream()
    private let input: UnsafeMutableRawBufferPointer
    private var finished = false
    private var upstreamDone = false
    private let name: String

    public init(_ upstream: ByteSource, name: String) throws {
        self.upstream = upstream
        self.name = name
        input = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 17, alignment: 16)
        let rc = inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            input.deallocate()
            throw ImageError(.io, "zlib init failed (\(rc))")
        }
    }

    deinit {
        inflateEnd(&stream)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, buffer.count > 0 else { return 0 }
        while true {
            if stream.avail_in == 0 && !upstreamDone {
                let n = try upstream.read(into: input)
                if n == 0 { upstreamDone = true }
                stream.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
                stream.avail_in = UInt32(n)
            }
            if stream.avail_in == 0 && upstreamDone {
                throw ImageError(.corrupt, "\(name): truncated gzip stream")
            }
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = UInt32(buffer.count)
            let rc = inflate(&stream, Z_NO_FLUSH)
            let produced = buffer.count - Int(stream.avail_out)
            switch rc {
            case Z_OK, Z_BUF_ERROR:
                break
            case Z_STREAM_END:
                if stream.avail_in == 0 && !upstreamDone {
                    // Peek for another member.
                    let n = try upstream.read(into: input)
                    stream.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    stream.avail_in = UInt32(n)
                    if n == 0 { upstreamDone = true }
                }
                if stream.avail_in > 0 { inflateReset(&stream) } else { finished = true }
            default:
                throw ImageError(.corrupt, "\(name): invalid gzip data (zlib error \(rc))")
            }
            if produced > 0 || finished { return produced }
        }
    }
}

/// zstd → raw (OCI `tar+zstd` layers), streaming; concatenated frames are followed to the end.
public final class ZstdSource: ByteSource {
    private let upstream: ByteSource
    private let stream: OpaquePointer
    private let input: UnsafeMutableRawBufferPointer
    private var inBuffer = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private var upstreamDone = false
    /// 0 once a frame is complete (nothing pending).
    private var frameHint = 1
    private let name: String

    public init(_ upstream: ByteSource, name: String) throws {
        self.upstream = upstream
        self.name = name
        guard let s = ZSTD_createDStream() else { throw ImageError(.io, "zstd init failed") }
        stream = s
        ZSTD_initDStream(s)
        input = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_DStreamInSize(), alignment: 16)
        inBuffer.src = UnsafeRawPointer(input.baseAddress)
    }

    deinit {
        ZSTD_freeDStream(stream)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            if inBuffer.pos == inBuffer.size && !upstreamDone {
                let n = try upstream.read(into: input)
                if n == 0 { upstreamDone = true }
                inBuffer.size = n
                inBuffer.pos = 0
            }
            if inBuffer.pos == inBuffer.size && upstreamDone {
                if frameHint != 0 { throw ImageError(.corrupt, "\(name): truncated zstd stream") }
                return 0
            }
            var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let rc = ZSTD_decompressStream(stream, &out, &inBuffer)
            if ZSTD_isError(rc) != 0 {
                throw ImageError(.corrupt, "\(name): invalid zstd data (\(String(cString: ZSTD_getErrorName(rc))))")
            }
            frameHint = rc
            if out.pos > 0 { return out.pos }
        }
    }
}

/// Lets a reader look at the first bytes (a compression magic number) and still read them.
public final class PeekSource: ByteSource {
    private let upstream: ByteSource
    private var pending: [UInt8] = []

    public init(_ upstream: ByteSource) { self.upstream = upstream }

    /// Up to `n` first bytes (fewer at end of stream); later reads return them again.
    public func peek(_ n: Int) throws -> [UInt8] {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: n, alignment: 1)
        defer { buf.deallocate() }
        while pending.count < n {
            let got = try upstream.read(into: UnsafeMutableRawBufferPointer(rebasing: buf[0..<(n - pending.count)]))
            if got == 0 { break }
            pending.append(contentsOf: buf[0..<got])
        }
        return Array(pending.prefix(n))
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if !pending.isEmpty {
            let n = min(buffer.count, pending.count)
            for i in 0..<n { buffer[i] = pending[i] }
            pending.removeFirst(n)
            return n
        }
        return try upstream.read(into: buffer)
    }
}

/// A source over bytes in memory (tests, small blobs).
public final class BytesSource: ByteSource {
    let bytes: [UInt8]
    var offset = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        if n > 0 {
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
            offset += n
        }
        return n
    }
}
