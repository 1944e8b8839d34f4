// A test-side DNS client written apart from the server's codec (so one bug can't hide in both):
// queries built by hand, responses decoded with compression, real UDP and TCP sockets.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct TestRR: Equatable, CustomStringConvertible {
    var name: String
    var type: UInt16
    var ttl: UInt32
    /// A: dotted IP; SRV: "prio weight port target"; PTR/CNAME/NS: the name; TXT: text; SOA: "mname rname ... minimum".
    var data: String
    var description: String { "\(name) \(type) \(data)" }
}

struct TestResponse {
    var id: UInt16
    var flags: UInt16
    var answers: [TestRR] = []
    var authority: [TestRR] = []
    var additional: [TestRR] = []
    var rcode: Int { Int(flags & 0xf) }
    var truncated: Bool { flags & 0x0200 != 0 }
    var authoritative: Bool { flags & 0x0400 != 0 }
    var data: [String] { answers.map(\.data) }
}

enum TestDNS {
    static func query(_ name: String, type: UInt16 = 1, id: UInt16 = 0x1234, rd: Bool = true, edns: UInt16? = nil) -> [UInt8] {
        var b: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), rd ? 0x01 : 0x00, 0, 0, 1, 0, 0, 0, 0, 0, edns == nil ? 0 : 1]
        for label in name.split(separator: ".") { b.append(UInt8(label.utf8.count)); b += label.utf8 }
        b += [0, UInt8(type >> 8), UInt8(type & 0xff), 0, 1]
        if let size = edns { b += [0, 0, 41, UInt8(size >> 8), UInt8(size & 0xff), 0, 0, 0, 0, 0, 0] }
        return b
    }

    static func decode(_ b: [UInt8]) -> TestResponse? {
        guard b.count >= 12 else { return nil }
        func u16(_ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
        func name(_ start: Int) -> (String, Int)? {
            var labels: [String] = [], i = start, end: Int?, hops = 0
            while i < b.count {
                let n = Int(b[i])
                if n == 0 { return (labels.joined(separator: "."), end ?? i + 1) }
                if n & 0xc0 == 0xc0 {
                    guard i + 1 < b.count, hops < 20 else { return nil }
                    if end == nil { end = i + 2 }
                    i = (n & 0x3f) << 8 | Int(b[i + 1]); hops += 1; continue
                }
                guard i + 1 + n <= b.count else { return nil }
                labels.append(String(decoding: b[(i + 1)..<(i + 1 + n)], as: UTF8.self)); i += 1 + n
            }
            return nil
        }
        var r = TestResponse(id: UInt16(u16(0)), flags: UInt16(u16(2)))
        var at = 12
        for _ in 0..<u16(4) { guard let (_, e) = name(at) else { return nil }; at = e + 4 }
        let counts = [u16(6), u16(8), u16(10)]
        for (section, count) in counts.enumerated() {
            for _ in 0..<count {
                guard let (owner, e) = name(at), e + 10 <= b.count else { return nil }
                let type = UInt16(u16(e)), ttl = UInt32(u16(e + 4)) << 16 | UInt32(u16(e + 6)), len = u16(e + 8)
                let rd = e + 10
                guard rd + len <= b.count else { return nil }
                var data = ""
                switch type {
                case 1: data = b[rd..<(rd + 4)].map(String.init).joined(separator: ".")
                case 33: data = "\(u16(rd)) \(u16(rd + 2)) \(u16(rd + 4)) \(name(rd + 6)?.0 ?? "?")"
                case 2, 5, 12: data = name(rd)?.0 ?? "?"
                case 16: data = String(decoding: b[(rd + 1)..<(rd + len)], as: UTF8.self)
                case 6:
                    if let (m, e1) = name(rd), let (rn, e2) = name(e1) {
                        let nums = (0..<5).map { UInt32(u16(e2 + $0 * 4)) << 16 | UInt32(u16(e2 + $0 * 4 + 2)) }
                        data = "\(m) \(rn) " + nums.map(String.init).joined(separator: " ")
                    }
                default: data = "\(len) bytes"
                }
                let rr = TestRR(name: owner, type: type, ttl: ttl, data: data)
                switch section {
                case 0: r.answers.append(rr)
                case 1: r.authority.append(rr)
                default: r.additional.append(rr)
                }
                at = rd + len
            }
        }
        return r
    }

    static func address(_ port: Int) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port)).bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        return a
    }

    /// One UDP exchange; nil after `timeout` seconds without an answer.
    static func udp(_ packet: [UInt8], port: Int, timeout: Double = 2) -> [UInt8]? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var to = address(port)
        let sent = withUnsafePointer(to: &to) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, packet, packet.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard sent == packet.count else { return nil }
        var buf = [UInt8](repeating: 0, count: 65535)
        let n = recv(fd, &buf, buf.count, 0)
        return n > 0 ? Array(buf[0..<n]) : nil
    }

    /// Sends without waiting (floods, garbage).
    static func udpSend(_ packets: [[UInt8]], port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var to = address(port)
        for p in packets {
            _ = withUnsafePointer(to: &to) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, p, p.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
    }

    /// One TCP exchange (length-prefixed).
    static func tcp(_ packet: [UInt8], port: Int) -> [UInt8]? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var to = address(port)
        let ok = withUnsafePointer(to: &to) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { return nil }
        let framed = [UInt8(packet.count >> 8), UInt8(packet.count & 0xff)] + packet
        guard send(fd, framed, framed.count, 0) == framed.count else { return nil }
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65535)
        while true {
            if got.count >= 2, got.count >= 2 + (Int(got[0]) << 8 | Int(got[1])) { return Array(got[2..<(2 + (Int(got[0]) << 8 | Int(got[1])))]) }
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { return nil }
            got += buf[0..<n]
        }
    }
}
