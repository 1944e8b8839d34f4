// SPDY/3.1 framing and header compression without a network: frames round-trip through their
// bytes (and a frame split anywhere waits for the rest), header blocks compress and inflate
// across several blocks of one zlib stream (as a session's), a block compressed by the system
// zlib with the SPDY dictionary (what Go's compress/zlib writes) is read, and bad input is an
// error, never a crash.
import CZlib
import NIOCore
@testable import Node
import Testing

@Suite struct SPDYTests {
    func bytes(_ frame: SPDYFrame) -> ByteBuffer {
        var out = ByteBuffer()
        frame.write(to: &out)
        return out
    }

    @Test func framesRoundTrip() throws {
        let frames: [SPDYFrame] = [
            .synStream(id: 1, flags: 0, headerBlock: [1, 2, 3]), .synReply(id: 3, flags: 0, headerBlock: [9]),
            .rstStream(id: 5, status: SPDYFrame.cancel), .ping(id: 7), .goAway(lastGoodID: 9, status: 0),
            .headers(id: 11, flags: 1, headerBlock: []), .windowUpdate(id: 13, delta: 1000), .settings,
            .data(id: 15, flags: SPDYFrame.flagFin, payload: ByteBuffer(bytes: Array(0..<200))),
        ]
        for frame in frames {
            var buffer = bytes(frame)
            #expect(try SPDYFrame.read(from: &buffer) == frame)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func aPartialFrameWaitsForTheRest() throws {
        let whole = bytes(.data(id: 1, flags: 0, payload: ByteBuffer(string: "hello")))
        for cut in 0..<whole.readableBytes {
            var first = whole.getSlice(at: 0, length: cut)!
            #expect(try SPDYFrame.read(from: &first) == nil, "cut at \(cut)")
        }
        // The control bit, version 3 and the type are where SPDY puts them.
        let ping = bytes(.ping(id: 1))
        #expect(Array(ping.readableBytesView.prefix(4)) == [0x80, 0x03, 0x00, 0x06])
    }

    @Test func otherVersionsAreAnError() {
        var buffer = ByteBuffer(bytes: [0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1])
        #expect(throws: SPDYError.self) { try SPDYFrame.read(from: &buffer) }
        var short = ByteBuffer(bytes: [0x80, 0x03, 0x00, 0x03, 0, 0, 0, 2, 0, 0])
        #expect(throws: SPDYError.self) { try SPDYFrame.read(from: &short) }
    }

    @Test func headerBlocksShareOneZlibStream() throws {
        let compressor = SPDYHeaderCompressor(), decompressor = SPDYHeaderDecompressor()
        for i in 0..<5 {
            var headers = SPDYHeaders()
            headers.pairs = [("streamType", "data"), ("port", "\(7000 + i)"), ("requestID", "\(i)")]
            let block = try compressor.compress(headers)
            let back = try decompressor.decompress(block)
            #expect(back.first("streamtype") == "data" && back.first("PORT") == "\(7000 + i)" && back.first("requestid") == "\(i)")
            #expect(back.pairs.allSatisfy { $0.name == $0.name.lowercased() }, "names go out lowercase")
        }
        #expect(try decompressor.decompress(try compressor.compress(SPDYHeaders())).pairs.isEmpty)
    }

    @Test func readsABlockTheSystemZlibWroteWithTheDictionary() throws {
        // One value for a repeated name is NUL-joined on the wire: decoding splits it again.
        func field(_ s: String) -> [UInt8] { [0, 0, 0, UInt8(s.utf8.count)] + Array(s.utf8) }
        var raw: [UInt8] = [0, 0, 0, 2] + field("streamtype") + field("error") + field("multi") + field("a\u{0}b")
        var stream = z_stream()
        #expect(deflateInit_(&stream, Z_DEFAULT_COMPRESSION, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        _ = SPDYDictionary.bytes.withUnsafeBufferPointer { deflateSetDictionary(&stream, $0.baseAddress, UInt32($0.count)) }
        var out = [UInt8](repeating: 0, count: 1024)
        let produced = raw.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o -> Int in
                stream.next_in = inp.baseAddress; stream.avail_in = UInt32(inp.count)
                stream.next_out = o.baseAddress; stream.avail_out = UInt32(o.count)
                _ = deflate(&stream, Z_SYNC_FLUSH)
                return o.count - Int(stream.avail_out)
            }
        }
        deflateEnd(&stream)
        let back = try SPDYHeaderDecompressor().decompress(Array(out[0..<produced]))
        #expect(back.first("streamType") == "error")
        #expect(back.pairs.filter { $0.name == "multi" }.map(\.value) == ["a", "b"])
    }

    @Test func corruptHeaderBlocksAreErrors() {
        #expect(throws: SPDYError.self) { try SPDYHeaderDecompressor().decompress([0x78, 0xbb, 1, 2, 3, 4, 5, 6]) }
        #expect(throws: SPDYError.self) { try SPDYHeaders.decode([0, 0, 0, 1, 0, 0, 0, 99]) }
        #expect(throws: SPDYError.self) { try SPDYHeaders.decode([0xff, 0xff, 0xff, 0xff]) }
    }
}
