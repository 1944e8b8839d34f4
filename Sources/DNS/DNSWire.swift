// The DNS wire format (RFC 1035, EDNS0 from RFC 6891): the one query a client sends parsed
// with every length checked (anything malformed is nil, never a trap), and responses written
// record by record. Names are compared lower-cased; the question is echoed as the client wrote it.

public enum RRType {
    public static let a: UInt16 = 1, ns: UInt16 = 2, cname: UInt16 = 5, soa: UInt16 = 6, ptr: UInt16 = 12
    public static let txt: UInt16 = 16, aaaa: UInt16 = 28, srv: UInt16 = 33, opt: UInt16 = 41, any: UInt16 = 255
}

public enum RCode {
    public static let noError: UInt8 = 0, formErr: UInt8 = 1, servFail: UInt8 = 2, nxDomain: UInt8 = 3
    public static let notImp: UInt8 = 4, refused: UInt8 = 5
}

/// A query: its header fields, its one question and the EDNS0 payload size it offered.
public struct DNSQuery: Equatable, Sendable {
    public var id: UInt16
    /// Header flags as sent (RD and CD are echoed).
    public var flags: UInt16
    /// The question's labels, lower-cased.
    public var labels: [[UInt8]]
    /// The question section as sent (name, type, class): echoed in the response.
    public var question: [UInt8]
    public var qtype: UInt16
    public var qclass: UInt16
    /// The EDNS0 UDP payload size (nil: the query had no OPT record).
    public var ednsSize: UInt16?

    public var recursionDesired: Bool { flags & 0x0100 != 0 }
    /// The name lower-cased and dotted, without the root dot ("" for the root).
    public var name: String { labels.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".") }

    /// The largest response that may go back over UDP.
    public var udpLimit: Int { max(512, min(Int(ednsSize ?? 512), 4096)) }

    /// Why a packet is not a query we answer.
    public enum Rejection: Error, Equatable { case malformed, notQuery, notImplemented, badQuestionCount }

    /// Parses a whole packet. Responses (QR set) are rejected: answering them would let two
    /// servers bounce packets forever.
    public static func parse(_ p: UnsafeRawBufferPointer) -> Result<DNSQuery, Rejection> {
        guard p.count >= 12 else { return .failure(.malformed) }
        let flags = be16(p, 2)
        guard flags & 0x8000 == 0 else { return .failure(.notQuery) }
        guard (flags >> 11) & 0xf == 0 else { return .failure(.notImplemented) }
        guard be16(p, 4) == 1 else { return .failure(.badQuestionCount) }
        var offset = 12
        guard let labels = readName(p, &offset), offset + 4 <= p.count else { return .failure(.malformed) }
        var query = DNSQuery(id: be16(p, 0), flags: flags, labels: labels,
                             question: Array(p[12..<offset + 4]), qtype: be16(p, offset), qclass: be16(p, offset + 2))
        offset += 4
        // Answer and authority records are unexpected in a query but legal; skip them to the OPT.
        let others = Int(be16(p, 6)) + Int(be16(p, 8)), additional = Int(be16(p, 10))
        for i in 0..<(others + additional) {
            guard readName(p, &offset) != nil, offset + 10 <= p.count else { return .failure(.malformed) }
            let type = be16(p, offset), rdlength = Int(be16(p, offset + 8))
            if i >= others, type == RRType.opt { query.ednsSize = be16(p, offset + 2) }
            offset += 10 + rdlength
            guard offset <= p.count else { return .failure(.malformed) }
        }
        return .success(query)
    }

    public static func parse(_ bytes: [UInt8]) -> Result<DNSQuery, Rejection> {
        bytes.withUnsafeBytes { parse($0) }
    }

    /// A name at `offset` (compression pointers followed, only backwards, so no loops); on return
    /// `offset` is just past the name where it started. Labels come lower-cased (names compare
    /// case-insensitively). Labels over 63 bytes or names over 255 are nil.
    static func readName(_ p: UnsafeRawBufferPointer, _ offset: inout Int) -> [[UInt8]]? {
        var labels: [[UInt8]] = []
        var at = offset, total = 0, jumped = false
        while true {
            guard at < p.count else { return nil }
            let length = Int(p[at])
            if length & 0xc0 == 0xc0 {
                guard at + 1 < p.count else { return nil }
                let target = (length & 0x3f) << 8 | Int(p[at + 1])
                guard target < at else { return nil }
                if !jumped { offset = at + 2; jumped = true }
                at = target
                continue
            }
            guard length & 0xc0 == 0 else { return nil }
            if length == 0 {
                if !jumped { offset = at + 1 }
                return labels
            }
            total += length + 1
            guard at + 1 + length <= p.count, total <= 255 else { return nil }
            labels.append(p[(at + 1)..<(at + 1 + length)].map(lower))
            at += 1 + length
        }
    }

    static func be16(_ p: UnsafeRawBufferPointer, _ i: Int) -> UInt16 { UInt16(p[i]) << 8 | UInt16(p[i + 1]) }
    static func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5a ? b | 0x20 : b }
}

/// One resource record's data.
public enum RData: Equatable, Sendable {
    case a(UInt32)
    case srv(priority: UInt16, weight: UInt16, port: UInt16, target: String)
    case ptr(String)
    case cname(String)
    case ns(String)
    case txt(String)
    case soa(mname: String, rname: String, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32, minimum: UInt32)
    /// Data copied as is (an upstream's AAAA).
    case raw(type: UInt16, [UInt8])

    var type: UInt16 {
        switch self {
        case .a: RRType.a
        case .srv: RRType.srv
        case .ptr: RRType.ptr
        case .cname: RRType.cname
        case .ns: RRType.ns
        case .txt: RRType.txt
        case .soa: RRType.soa
        case .raw(let type, _): type
        }
    }
}

/// A record to write; `owner` nil means the question's name (written as a pointer to it).
public struct DNSRecord: Equatable, Sendable {
    public var owner: String?
    public var ttl: UInt32
    public var data: RData
    public init(owner: String? = nil, ttl: UInt32, _ data: RData) { self.owner = owner; self.ttl = ttl; self.data = data }
}

/// A response to one query.
public struct DNSAnswer: Equatable, Sendable {
    public var rcode: UInt8 = RCode.noError
    public var authoritative = true
    public var answers: [DNSRecord] = []
    public var authority: [DNSRecord] = []
    public var additional: [DNSRecord] = []
    public init(rcode: UInt8 = RCode.noError, answers: [DNSRecord] = [], authority: [DNSRecord] = [], additional: [DNSRecord] = []) {
        self.rcode = rcode; self.answers = answers; self.authority = authority; self.additional = additional
    }
}

public enum DNSWriter {
    /// The response bytes for `answer`. Over `limit` bytes the records are left out and TC is
    /// set (the client asks again over TCP). A query with OPT gets an OPT back (our size: 4096).
    public static func response(to q: DNSQuery, _ answer: DNSAnswer, limit: Int = 65535) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        header(&out, q, rcode: answer.rcode, aa: answer.authoritative, counts: (1, answer.answers.count, answer.authority.count, answer.additional.count))
        out += q.question
        var targets: [String: Int] = [:]
        for r in answer.answers { record(&out, r, targets: &targets) }
        for r in answer.authority { record(&out, r, targets: &targets) }
        for r in answer.additional { record(&out, r, targets: &targets) }
        if q.ednsSize != nil { opt(&out); bump(&out, at: 10) }
        if out.count > limit { return truncated(q, rcode: answer.rcode, aa: answer.authoritative) }
        return out
    }

    /// Header and question only, TC set.
    public static func truncated(_ q: DNSQuery, rcode: UInt8, aa: Bool) -> [UInt8] {
        var out: [UInt8] = []
        header(&out, q, rcode: rcode, aa: aa, counts: (1, 0, 0, 0), tc: true)
        out += q.question
        if q.ednsSize != nil { opt(&out); bump(&out, at: 10) }
        return out
    }

    /// A bare error (FORMERR, NOTIMP, SERVFAIL) echoing the question when there is one.
    public static func error(id: UInt16, flags: UInt16, rcode: UInt8, query: DNSQuery? = nil) -> [UInt8] {
        if let q = query { return response(to: q, DNSAnswer(rcode: rcode).withAuthoritative(false)) }
        var out: [UInt8] = []
        append16(&out, id)
        append16(&out, 0x8000 | (flags & 0x7900) | 0x0080 | UInt16(rcode))
        out += [0, 0, 0, 0, 0, 0, 0, 0]
        return out
    }

    static func header(_ out: inout [UInt8], _ q: DNSQuery, rcode: UInt8, aa: Bool, counts: (Int, Int, Int, Int), tc: Bool = false) {
        append16(&out, q.id)
        // QR, the query's opcode and RD, AA when authoritative, TC, RA (we recurse via upstreams), CD echoed.
        var flags: UInt16 = 0x8000 | (q.flags & 0x7900) | 0x0080 | (q.flags & 0x0010) | UInt16(rcode & 0xf)
        if aa { flags |= 0x0400 }
        if tc { flags |= 0x0200 }
        append16(&out, flags)
        append16(&out, UInt16(counts.0)); append16(&out, UInt16(counts.1))
        append16(&out, UInt16(counts.2)); append16(&out, UInt16(counts.3))
    }

    static func record(_ out: inout [UInt8], _ r: DNSRecord, targets: inout [String: Int]) {
        if let owner = r.owner {
            if let at = targets[owner] { append16(&out, 0xc000 | UInt16(at)) } else { targets[owner] = out.count; name(&out, owner) }
        } else {
            out += [0xc0, 12]
        }
        append16(&out, r.data.type)
        append16(&out, 1)   // IN
        append32(&out, r.ttl)
        let lengthAt = out.count
        out += [0, 0]
        switch r.data {
        case .a(let ip): append32(&out, ip)
        case .srv(let priority, let weight, let port, let target):
            append16(&out, priority); append16(&out, weight); append16(&out, port)
            // RFC 2782: the target is never compressed; later records may point at it.
            if targets[target] == nil, out.count < 0x3fff { targets[target] = out.count }
            name(&out, target)
        case .ptr(let n), .cname(let n), .ns(let n): name(&out, n)
        case .txt(let text):
            let bytes = Array(text.utf8.prefix(255))
            out.append(UInt8(bytes.count)); out += bytes
        case .soa(let mname, let rname, let serial, let refresh, let retry, let expire, let minimum):
            name(&out, mname); name(&out, rname)
            for v in [serial, refresh, retry, expire, minimum] { append32(&out, v) }
        case .raw(_, let bytes): out += bytes
        }
        let length = out.count - lengthAt - 2
        out[lengthAt] = UInt8(length >> 8); out[lengthAt + 1] = UInt8(length & 0xff)
    }

    /// A dotted name in wire form (labels over 63 bytes are cut: our names never have them).
    static func name(_ out: inout [UInt8], _ dotted: String) {
        for label in dotted.utf8.split(separator: UInt8(ascii: ".")) {
            let bytes = label.prefix(63)
            out.append(UInt8(bytes.count)); out += bytes
        }
        out.append(0)
    }

    static func opt(_ out: inout [UInt8]) {
        out += [0]                       // root owner
        append16(&out, RRType.opt)
        append16(&out, 4096)             // our UDP payload size
        out += [0, 0, 0, 0, 0, 0]        // extended rcode, version, flags, rdlength 0
    }

    static func bump(_ out: inout [UInt8], at i: Int) {
        let v = (UInt16(out[i]) << 8 | UInt16(out[i + 1])) &+ 1
        out[i] = UInt8(v >> 8); out[i + 1] = UInt8(v & 0xff)
    }

    static func append16(_ out: inout [UInt8], _ v: UInt16) { out.append(UInt8(v >> 8)); out.append(UInt8(v & 0xff)) }
    static func append32(_ out: inout [UInt8], _ v: UInt32) {
        out.append(UInt8(v >> 24)); out.append(UInt8(v >> 16 & 0xff)); out.append(UInt8(v >> 8 & 0xff)); out.append(UInt8(v & 0xff))
    }
}

extension DNSAnswer {
    func withAuthoritative(_ aa: Bool) -> DNSAnswer { var a = self; a.authoritative = aa; return a }
}
