// The packet codec: what parses, what is refused and why, what the writer produces, and 200,000
// random and mutated packets through parse, resolve and write without a trap.
@testable import DNS
import Testing

@Suite struct DNSWireTests {
    @Test func parsesAQueryWithEDNS() throws {
        let q = try DNSQuery.parse(TestDNS.query("Web.Default.svc.cluster.local", type: RRType.srv, id: 77, edns: 1232)).get()
        #expect(q.id == 77 && q.qtype == RRType.srv && q.qclass == 1 && q.recursionDesired)
        #expect(q.name == "web.default.svc.cluster.local")
        #expect(q.ednsSize == 1232 && q.udpLimit == 1232)
        #expect(Array(q.question.prefix(4)) == [3, 0x57, 0x65, 0x62])   // "Web" as sent
        let plain = try DNSQuery.parse(TestDNS.query("a.b")).get()
        #expect(plain.ednsSize == nil && plain.udpLimit == 512)
        #expect(try DNSQuery.parse(TestDNS.query("x", edns: 10_000)).get().udpLimit == 4096)
        #expect(try DNSQuery.parse(TestDNS.query("x", edns: 100)).get().udpLimit == 512)
    }

    @Test func refusesWhatIsNotOneWellFormedQuery() {
        var response = TestDNS.query("a.b"); response[2] |= 0x80
        #expect(DNSQuery.parse(response).failure == .notQuery)
        var update = TestDNS.query("a.b"); update[2] |= 5 << 3
        #expect(DNSQuery.parse(update).failure == .notImplemented)
        var two = TestDNS.query("a.b"); two[5] = 2
        #expect(DNSQuery.parse(two).failure == .badQuestionCount)
        var long = TestDNS.query("a"); long.replaceSubrange(12..<14, with: [64] + [UInt8](repeating: 0x61, count: 64))
        #expect(DNSQuery.parse(long).failure == .malformed)
        let tooLong = TestDNS.query(Array(repeating: String(repeating: "a", count: 63), count: 5).joined(separator: "."))
        #expect(DNSQuery.parse(tooLong).failure == .malformed)
        // A compression pointer may only point backwards (a pointer to itself would loop).
        var loop = TestDNS.query("a"); loop.replaceSubrange(12..<15, with: [0xc0, 12])
        #expect(DNSQuery.parse(loop).failure == .malformed)
        // Every cut of a valid query is malformed, none traps.
        let full = TestDNS.query("web.default.svc.cluster.local", edns: 4096)
        for n in 0..<full.count { #expect(DNSQuery.parse(Array(full.prefix(n))).failure != nil, "cut at \(n)") }
    }

    @Test func followsABackwardPointerInTheQuestion() throws {
        // "a" then a pointer to offset 4, the header's QDCOUNT, whose first byte (0) ends the name.
        var p = Array(TestDNS.query("a").prefix(12))
        p += [1, 0x61, 0xc0, 4, 0, 1, 0, 1]
        let q = try DNSQuery.parse(p).get()
        #expect(q.name == "a" && q.qtype == 1 && q.question.count == 8)
        // A pointer to itself (not backwards) would loop: refused.
        var selfLoop = Array(TestDNS.query("a").prefix(12))
        selfLoop += [0xc0, 12, 0, 1, 0, 1]
        #expect(DNSQuery.parse(selfLoop).failure == .malformed)
    }

    @Test func writesHeaderFlagsAndEchoesTheQuestion() throws {
        let q = try DNSQuery.parse(TestDNS.query("Svc.cluster.local", id: 0xbeef, edns: 4096)).get()
        let bytes = DNSWriter.response(to: q, DNSAnswer(answers: [DNSRecord(ttl: 5, .a(0x0a000001))]))
        let r = try #require(TestDNS.decode(bytes))
        #expect(r.id == 0xbeef && r.flags & 0x8000 != 0 && r.authoritative && r.flags & 0x0100 != 0 && r.flags & 0x0080 != 0)
        #expect(r.answers == [TestRR(name: "Svc.cluster.local", type: 1, ttl: 5, data: "10.0.0.1")])
        #expect(r.additional.map(\.type) == [RRType.opt])
        let formErr = DNSWriter.error(id: 9, flags: 0x0100, rcode: RCode.formErr)
        #expect(TestDNS.decode(formErr)?.rcode == 1 && formErr.count == 12)
    }

    @Test func randomAndMutatedPacketsNeverTrap() {
        var rng = SplitMix(seed: 0x5eed)
        let records = fixture()
        let queries = ["web.default.svc.cluster.local", "_pg._tcp.db.default.svc.cluster.local", "5.0.244.10.in-addr.arpa",
                       "10-244-0-9.default.pod.cluster.local", "alias.default.svc.cluster.local"].map { TestDNS.query($0, type: RRType.srv, edns: 1232) }
        // Responses too: upstream answers are read (TTL for the cache, records for ExternalName targets).
        let responses = queries.compactMap { packet -> [UInt8]? in
            guard case .success(let q) = DNSQuery.parse(packet), case .answer(let a) = records.resolve(q) else { return nil }
            return DNSWriter.response(to: q, a)
        }
        let seeds = queries + responses
        var parsed = 0
        for i in 0..<200_000 {
            var packet: [UInt8]
            if i % 2 == 0 {
                packet = (0..<Int(rng.next() % 80)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                packet = seeds[i % seeds.count]
                for _ in 0..<(1 + rng.next() % 4) where !packet.isEmpty {
                    let at = Int(rng.next() % UInt64(packet.count))
                    switch rng.next() % 3 {
                    case 0: packet[at] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: packet.removeSubrange(at...)
                    default: packet.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                    }
                }
            }
            _ = UpstreamAnswers.read(packet)
            _ = ResponseTTL.minimum(packet)
            guard case .success(let q) = DNSQuery.parse(packet) else { continue }
            parsed += 1
            if case .answer(let a) = records.resolve(q) {
                let out = DNSWriter.response(to: q, a, limit: q.udpLimit)
                #expect(out.count <= q.udpLimit, "response over the limit")
            }
        }
        #expect(parsed > 1000)   // the mutations reach the resolver, not only the length checks
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e3779b97f4a7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
}

extension Result {
    var failure: Failure? { if case .failure(let f) = self { return f }; return nil }
}
