// Reading upstream responses: the records of their answer section (for an ExternalName Service
// the CNAME's target is looked up upstream and its addresses added to our answer), with names
// expanded from compression so they can be written into a response of our own.

enum UpstreamAnswers {
    /// The response code and answer records (A, AAAA, CNAME; others skipped); nil when malformed.
    static func read(_ bytes: [UInt8]) -> (rcode: UInt8, records: [DNSRecord])? {
        bytes.withUnsafeBytes { p -> (UInt8, [DNSRecord])? in
            guard p.count >= 12 else { return nil }
            var offset = 12
            for _ in 0..<Int(DNSQuery.be16(p, 4)) {
                guard DNSQuery.readName(p, &offset) != nil else { return nil }
                offset += 4
            }
            var records: [DNSRecord] = []
            for _ in 0..<Int(DNSQuery.be16(p, 6)) {
                guard let owner = DNSQuery.readName(p, &offset), offset + 10 <= p.count else { return nil }
                let type = DNSQuery.be16(p, offset)
                let ttl = UInt32(DNSQuery.be16(p, offset + 4)) << 16 | UInt32(DNSQuery.be16(p, offset + 6))
                let length = Int(DNSQuery.be16(p, offset + 8))
                offset += 10
                guard offset + length <= p.count else { return nil }
                let name = dotted(owner)
                switch type {
                case RRType.a where length == 4:
                    records.append(DNSRecord(owner: name, ttl: ttl, .a(UInt32(DNSQuery.be16(p, offset)) << 16 | UInt32(DNSQuery.be16(p, offset + 2)))))
                case RRType.aaaa where length == 16:
                    records.append(DNSRecord(owner: name, ttl: ttl, .raw(type: RRType.aaaa, Array(p[offset..<(offset + 16)]))))
                case RRType.cname:
                    var at = offset
                    guard let target = DNSQuery.readName(p, &at) else { return nil }
                    records.append(DNSRecord(owner: name, ttl: ttl, .cname(dotted(target))))
                default:
                    break
                }
                offset += length
            }
            return (p[3] & 0x0f, records)
        }
    }

    static func dotted(_ labels: [[UInt8]]) -> String { labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".") }

    /// A recursive query for `name` (no EDNS), as the forwarder sends it.
    static func query(_ name: String, type: UInt16) -> (DNSQuery, [UInt8])? {
        var packet: [UInt8] = [0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        DNSWriter.name(&packet, name)
        packet += [UInt8(type >> 8), UInt8(type & 0xff), 0, 1]
        guard case .success(let q) = DNSQuery.parse(packet) else { return nil }
        return (q, packet)
    }
}
