// SPDY/3.1 frames (the framing spdystream and so client-go speak): an 8-byte header, then the
// payload. Control frames: bit 1 set, version 3, a type, flags, a 24-bit length. Data frames:
// bit 0 clear, a 31-bit stream id, flags (FIN), a 24-bit length. Header blocks are handed to
// the session compressed; it owns the zlib streams.
import NIOCore

enum SPDYFrame: Equatable {
    case synStream(id: UInt32, flags: UInt8, headerBlock: [UInt8])
    case synReply(id: UInt32, flags: UInt8, headerBlock: [UInt8])
    case rstStream(id: UInt32, status: UInt32)
    case settings
    case ping(id: UInt32)
    case goAway(lastGoodID: UInt32, status: UInt32)
    case headers(id: UInt32, flags: UInt8, headerBlock: [UInt8])
    case windowUpdate(id: UInt32, delta: UInt32)
    case data(id: UInt32, flags: UInt8, payload: ByteBuffer)
    /// A control type we do not know: skipped, as SPDY asks.
    case unknown(type: UInt16)

    static let flagFin: UInt8 = 0x01
    /// RST_STREAM status codes used here.
    static let protocolError: UInt32 = 1, cancel: UInt32 = 5

    /// The next whole frame in `buffer` (consumed), nil when more bytes are needed.
    static func read(from buffer: inout ByteBuffer) throws -> SPDYFrame? {
        guard buffer.readableBytes >= 8,
              let word = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
              let flagsLength = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt32.self) else { return nil }
        let length = Int(flagsLength & 0xff_ffff), flags = UInt8(flagsLength >> 24)
        guard buffer.readableBytes >= 8 + length else { return nil }
        buffer.moveReaderIndex(forwardBy: 8)
        guard var payload = buffer.readSlice(length: length) else { return nil }
        if word & 0x8000_0000 == 0 { return .data(id: word, flags: flags, payload: payload) }
        let version = UInt16(word >> 16 & 0x7fff), type = UInt16(word & 0xffff)
        guard version == 3 else { throw SPDYError("SPDY version \(version) is not spoken here (only 3.1)") }
        func u32() throws -> UInt32 {
            guard let v = payload.readInteger(as: UInt32.self) else { throw SPDYError("control frame \(type) too short") }
            return v
        }
        func rest() -> [UInt8] { payload.readBytes(length: payload.readableBytes) ?? [] }
        switch type {
        case 1:
            let id = try u32() & 0x7fff_ffff
            _ = try u32()   // associated stream
            guard payload.readInteger(as: UInt16.self) != nil else { throw SPDYError("SYN_STREAM too short") }   // priority, slot
            return .synStream(id: id, flags: flags, headerBlock: rest())
        case 2: return .synReply(id: try u32() & 0x7fff_ffff, flags: flags, headerBlock: rest())
        case 3: return .rstStream(id: try u32() & 0x7fff_ffff, status: try u32())
        case 4: return .settings
        case 6: return .ping(id: try u32())
        case 7: return .goAway(lastGoodID: try u32() & 0x7fff_ffff, status: (try? u32()) ?? 0)
        case 8: return .headers(id: try u32() & 0x7fff_ffff, flags: flags, headerBlock: rest())
        case 9: return .windowUpdate(id: try u32() & 0x7fff_ffff, delta: try u32() & 0x7fff_ffff)
        default: return .unknown(type: type)
        }
    }

    /// The frame's bytes.
    func write(to out: inout ByteBuffer) {
        func control(_ type: UInt16, flags: UInt8, length: Int) {
            out.writeInteger(UInt32(0x8003_0000) | UInt32(type))
            out.writeInteger(UInt32(flags) << 24 | UInt32(length))
        }
        switch self {
        case .synStream(let id, let flags, let block):
            control(1, flags: flags, length: 10 + block.count)
            out.writeInteger(id); out.writeInteger(UInt32(0)); out.writeInteger(UInt16(0)); out.writeBytes(block)
        case .synReply(let id, let flags, let block):
            control(2, flags: flags, length: 4 + block.count)
            out.writeInteger(id); out.writeBytes(block)
        case .rstStream(let id, let status):
            control(3, flags: 0, length: 8)
            out.writeInteger(id); out.writeInteger(status)
        case .settings:
            control(4, flags: 0, length: 4)
            out.writeInteger(UInt32(0))
        case .ping(let id):
            control(6, flags: 0, length: 4)
            out.writeInteger(id)
        case .goAway(let last, let status):
            control(7, flags: 0, length: 8)
            out.writeInteger(last); out.writeInteger(status)
        case .headers(let id, let flags, let block):
            control(8, flags: flags, length: 4 + block.count)
            out.writeInteger(id); out.writeBytes(block)
        case .windowUpdate(let id, let delta):
            control(9, flags: 0, length: 8)
            out.writeInteger(id); out.writeInteger(delta)
        case .data(let id, let flags, var payload):
            out.writeInteger(id & 0x7fff_ffff)
            out.writeInteger(UInt32(flags) << 24 | UInt32(payload.readableBytes))
            out.writeBuffer(&payload)
        case .unknown: break
        }
    }

    /// The largest data payload one frame may carry (24-bit length); writers split above it.
    static let maxDataLength = 0xff_ffff
}
