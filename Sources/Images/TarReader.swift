// A streaming tar reader: ustar, GNU long names (L/K), PAX extended headers (path, linkpath,
// size, uid, gid, mtime, SCHILY.xattr.*), base-256 numbers. Header checksums are verified.

public struct TarEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case file, hardlink, symlink, charDevice, blockDevice, directory, fifo }
    public var path: String
    public var kind: Kind
    public var linkName: String = ""
    public var size: Int64 = 0
    public var mode: UInt32 = 0
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var mtime: Int64 = 0
    public var devMajor: UInt32 = 0
    public var devMinor: UInt32 = 0
    public var xattrs: [String: [UInt8]] = [:]
}

public final class TarReader {
    private let source: ByteSource
    private let name: String
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0, end = 0
    private var eof = false
    /// Data bytes of the current entry not yet consumed, and the padding after them.
    private var remaining: Int64 = 0
    private var padding = 0

    public init(_ source: ByteSource, name: String) {
        self.source = source
        self.name = name
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 17, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// The next entry, or nil at the end of the archive. Unread data of the previous entry is skipped.
    public func next() throws -> TarEntry? {
        try skip(remaining + Int64(padding))
        remaining = 0
        padding = 0
        var pax: [String: [UInt8]] = [:]
        var longName: String?
        var longLink: String?
        while true {
            var header = [UInt8](repeating: 0, count: 512)
            let got = try readUpTo(&header, 512)
            if got == 0 { return nil }   // EOF without end blocks: tolerated, as GNU tar does
            guard got == 512 else { throw ImageError(.corrupt, "\(name): truncated tar header") }
            if header.allSatisfy({ $0 == 0 }) { return nil }
            try verifyChecksum(header)
            let type = header[156]
            let size = try number(header, 124, 12)
            guard size >= 0 else { throw ImageError(.corrupt, "\(name): negative entry size") }
            switch type {
            case UInt8(ascii: "x"), UInt8(ascii: "g"), UInt8(ascii: "L"), UInt8(ascii: "K"):
                guard size <= 1 << 20 else { throw ImageError(.corrupt, "\(name): extended header of \(size) bytes is too large") }
                var data = [UInt8](repeating: 0, count: Int(size))
                guard try readUpTo(&data, Int(size)) == Int(size) else { throw ImageError(.corrupt, "\(name): truncated extended header") }
                try skip(Int64(Self.pad(size)))
                if type == UInt8(ascii: "x") { pax.merge(try parsePAX(data)) { $1 } }
                if type == UInt8(ascii: "L") { longName = cString(data[...]) }
                if type == UInt8(ascii: "K") { longLink = cString(data[...]) }
                continue   // global headers ("g") are read and ignored
            default:
                break
            }
            var entry = TarEntry(path: "", kind: .file)
            switch type {
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): entry.kind = .file
            case UInt8(ascii: "1"): entry.kind = .hardlink
            case UInt8(ascii: "2"): entry.kind = .symlink
            case UInt8(ascii: "3"): entry.kind = .charDevice
            case UInt8(ascii: "4"): entry.kind = .blockDevice
            case UInt8(ascii: "5"): entry.kind = .directory
            case UInt8(ascii: "6"): entry.kind = .fifo
            default:
                throw ImageError(.unsupported, "\(name): unsupported tar entry type '\(Character(Unicode.Scalar(type)))'")
            }
            var path = cString(header[0..<100])
            if header[257..<262].elementsEqual("ustar".utf8) {
                let prefix = cString(header[345..<500])
                if !prefix.isEmpty { path = prefix + "/" + path }
            }
            entry.path = pax["path"].map { String(decoding: $0, as: UTF8.self) } ?? longName ?? path
            entry.linkName = pax["linkpath"].map { String(decoding: $0, as: UTF8.self) } ?? longLink ?? cString(header[157..<257])
            entry.mode = UInt32(truncatingIfNeeded: try number(header, 100, 8))
            entry.uid = UInt32(truncatingIfNeeded: try paxNumber(pax["uid"]) ?? number(header, 108, 8))
            entry.gid = UInt32(truncatingIfNeeded: try paxNumber(pax["gid"]) ?? number(header, 116, 8))
            entry.mtime = try paxNumber(pax["mtime"]) ?? number(header, 136, 12)
            entry.size = try paxNumber(pax["size"]) ?? size
            if entry.kind == .charDevice || entry.kind == .blockDevice {
                entry.devMajor = UInt32(truncatingIfNeeded: try number(header, 329, 8))
                entry.devMinor = UInt32(truncatingIfNeeded: try number(header, 337, 8))
            }
            for (k, v) in pax where k.hasPrefix("SCHILY.xattr.") { entry.xattrs[String(k.dropFirst(13))] = v }
            // Only regular files carry data; other types are header-only whatever their size says
            // (Go's archive/tar, which writes most image layers, does the same).
            remaining = entry.kind == .file ? entry.size : 0
            padding = Self.pad(remaining)
            return entry
        }
    }

    /// Reads the current entry's data; 0 at its end.
    public func readData(into dest: UnsafeMutableRawBufferPointer) throws -> Int {
        guard remaining > 0 else { return 0 }
        let want = Int(min(Int64(dest.count), remaining))
        let n = try readRaw(into: UnsafeMutableRawBufferPointer(rebasing: dest[0..<want]))
        guard n > 0 else { throw ImageError(.corrupt, "\(name): truncated file data") }
        remaining -= Int64(n)
        return n
    }

    // MARK: internals

    static func pad(_ size: Int64) -> Int { Int((512 - size % 512) % 512) }

    private func fill() throws {
        if start == end && !eof {
            start = 0
            end = try source.read(into: buffer)
            if end == 0 { eof = true }
        }
    }

    private func readRaw(into dest: UnsafeMutableRawBufferPointer) throws -> Int {
        try fill()
        let n = min(dest.count, end - start)
        if n > 0 {
            dest.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: n)
            start += n
        }
        return n
    }

    private func readUpTo(_ out: inout [UInt8], _ count: Int) throws -> Int {
        var got = 0
        try out.withUnsafeMutableBytes { raw in
            while got < count {
                let n = try readRaw(into: UnsafeMutableRawBufferPointer(rebasing: raw[got..<count]))
                if n == 0 { break }
                got += n
            }
        }
        return got
    }

    private func skip(_ count: Int64) throws {
        var left = count
        while left > 0 {
            try fill()
            let n = min(Int64(end - start), left)
            guard n > 0 else { throw ImageError(.corrupt, "\(name): truncated tar stream") }
            start += Int(n)
            left -= n
        }
    }

    private func verifyChecksum(_ h: [UInt8]) throws {
        let stored = try number(h, 148, 8)
        var sum: Int64 = 0
        for (i, b) in h.enumerated() { sum += (148..<156).contains(i) ? 32 : Int64(b) }
        guard sum == stored else { throw ImageError(.corrupt, "\(name): tar header checksum mismatch (corrupt archive)") }
    }

    /// Octal ASCII, or GNU base-256 when the first byte has its high bit set.
    private func number(_ h: [UInt8], _ offset: Int, _ length: Int) throws -> Int64 {
        let field = h[offset..<(offset + length)]
        if let first = field.first, first & 0x80 != 0 {
            var v: Int64 = Int64(first & 0x7f)
            for b in field.dropFirst() {
                guard v < Int64.max >> 8 else { throw ImageError(.corrupt, "\(name): numeric field overflow") }
                v = v << 8 | Int64(b)
            }
            return v
        }
        var v: Int64 = 0
        var seen = false
        for b in field {
            if b == 0 || (b == 32 && seen) { break }
            if b == 32 { continue }
            guard b >= 48 && b <= 55 else { throw ImageError(.corrupt, "\(name): invalid octal field in tar header") }
            v = v * 8 + Int64(b - 48)
            seen = true
        }
        return v
    }

    private func paxNumber(_ v: [UInt8]?) throws -> Int64? {
        guard let v else { return nil }
        let s = String(decoding: v, as: UTF8.self)
        // mtime may carry a fraction: keep the seconds.
        let whole = s.split(separator: ".").first.map(String.init) ?? s
        guard let n = Int64(whole) else { throw ImageError(.corrupt, "\(name): invalid PAX number \"\(s)\"") }
        return n
    }

    /// "<len> <key>=<value>\n" records.
    private func parsePAX(_ data: [UInt8]) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        var i = 0
        while i < data.count {
            guard let space = data[i...].firstIndex(of: 32),
                  let len = Int(String(decoding: data[i..<space], as: UTF8.self)), len > 0, i + len <= data.count,
                  data[i + len - 1] == 10 else { throw ImageError(.corrupt, "\(name): malformed PAX header") }
            let record = data[(space + 1)..<(i + len - 1)]
            guard let eq = record.firstIndex(of: UInt8(ascii: "=")) else { throw ImageError(.corrupt, "\(name): malformed PAX record") }
            out[String(decoding: record[..<eq], as: UTF8.self)] = Array(record[(eq + 1)...])
            i += len
        }
        return out
    }

    private func cString(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
}
