// Kubernetes' protobuf encoding (application/vnd.kubernetes.protobuf), decoded to JSONValue.
// kubectl 1.33's typed clients (`kubectl create configmap|secret|namespace|deployment|service`)
// send protobuf bodies; the server takes them in and stores JSON like everything else.
// Wire format: "k8s\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw}; raw is the type's
// message, decoded field by field with the schemas in ProtobufSchemas.swift.

public indirect enum ProtoType: Sendable {
    case string
    /// bytes, written to JSON as base64 (Secret data, ConfigMap binaryData).
    case bytes
    case int      // varint int32/int64
    case bool
    case double
    case message(String)
    /// map<K, V>: repeated entries {1: key, 2: value}.
    case map(ProtoType, ProtoType)
    /// resource.Quantity: {1: string} → "100m".
    case quantity
    /// intstr.IntOrString: {1: type, 2: intVal, 3: strVal} → 80 or "http".
    case intOrString
    /// metav1.Time: {1: seconds, 2: nanos} → RFC 3339.
    case time
    /// runtime.RawExtension / unknown payloads: skipped.
    case skip
}

public struct ProtoField: Sendable {
    public var name: String
    public var type: ProtoType
    public var repeated: Bool
    public init(_ name: String, _ type: ProtoType, repeated: Bool = false) {
        self.name = name; self.type = type; self.repeated = repeated
    }
}

public struct ProtobufError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

public enum ProtobufDecoder {
    public static let magic: [UInt8] = [0x6b, 0x38, 0x73, 0x00]

    /// Decodes an enveloped object to JSON (apiVersion and kind from the envelope).
    public static func decodeObject(_ bytes: [UInt8]) throws -> JSONValue {
        guard bytes.count >= 4, Array(bytes[0..<4]) == magic else {
            throw ProtobufError(message: "not a Kubernetes protobuf object (missing the k8s\\0 prefix)")
        }
        var r = WireReader(bytes: bytes, start: 4, end: bytes.count)
        var apiVersion = "", kind = ""
        var raw: (Int, Int)?
        while let (field, wire) = try r.nextTag() {
            switch (field, wire) {
            case (1, 2):
                var tm = try r.subReader()
                while let (f, w) = try tm.nextTag() {
                    if f == 1, w == 2 { apiVersion = try tm.string() } else if f == 2, w == 2 { kind = try tm.string() } else { try tm.skip(w) }
                }
            case (2, 2):
                let (s, e) = try r.lengthDelimited()
                raw = (s, e)
            default:
                try r.skip(wire)
            }
        }
        guard let (s, e) = raw else { throw ProtobufError(message: "protobuf object has no payload") }
        guard let message = ProtobufSchemas.kinds[apiVersion + "/" + kind] else {
            throw ProtobufError(message: "protobuf bodies for \(apiVersion) \(kind) are not supported: send JSON")
        }
        var body = WireReader(bytes: bytes, start: s, end: e)
        guard case .object(var obj) = try decodeMessage(&body, message) else { return .null }
        obj["kind"] = .string(kind)
        obj["apiVersion"] = .string(apiVersion)
        obj.moveToFront(["kind", "apiVersion", "metadata"])
        return .object(obj)
    }

    static func decodeMessage(_ r: inout WireReader, _ name: String) throws -> JSONValue {
        guard let fields = ProtobufSchemas.messages[name] else {
            throw ProtobufError(message: "no protobuf schema for \(name)")
        }
        var obj = JSONObject()
        while let (number, wire) = try r.nextTag() {
            guard let f = fields[number] else { try r.skip(wire); continue }
            if case .skip = f.type { try r.skip(wire); continue }
            if case .map(let kt, let vt) = f.type {
                var entry = try r.subReader()
                var key: JSONValue = .null, value: JSONValue = .null
                while let (en, ew) = try entry.nextTag() {
                    if en == 1 { key = try decodeValue(&entry, kt, wire: ew) } else if en == 2 { value = try decodeValue(&entry, vt, wire: ew) } else { try entry.skip(ew) }
                }
                var map = obj[f.name]?.objectValue ?? JSONObject()
                if let k = key.stringValue { map[k] = value.isNull ? defaultValue(vt) : value }
                obj[f.name] = .object(map)
                continue
            }
            if f.repeated {
                var arr = obj[f.name]?.arrayValue ?? []
                if wire == 2, case .int = f.type {   // packed
                    var packed = try r.subReader()
                    while !packed.atEnd { arr.append(.int(try packed.varintSigned())) }
                } else {
                    arr.append(try decodeValue(&r, f.type, wire: wire))
                }
                obj[f.name] = .array(arr)
            } else {
                obj[f.name] = try decodeValue(&r, f.type, wire: wire)
            }
        }
        // Go's JSON omits empty strings, maps and lists of non-pointer fields; so do we.
        var out = JSONObject()
        for (k, v) in obj {
            switch v {
            case .string(let s) where s.isEmpty: continue
            case .null: continue
            case .object(let o) where o.isEmpty && !(fields.values.contains { $0.name == k && isMessage($0.type) }): continue
            case .array(let a) where a.isEmpty: continue
            default: out[k] = v
            }
        }
        return .object(out)
    }

    static func isMessage(_ t: ProtoType) -> Bool { if case .message = t { return true }; return false }

    static func defaultValue(_ t: ProtoType) -> JSONValue {
        switch t {
        case .string, .bytes: return ""
        case .int: return 0
        case .bool: return false
        default: return .null
        }
    }

    static func decodeValue(_ r: inout WireReader, _ t: ProtoType, wire: Int) throws -> JSONValue {
        switch t {
        case .string: return .string(try r.string())
        case .bytes:
            let (s, e) = try r.lengthDelimited()
            return .string(Base64.encode(Array(r.bytes[s..<e])))
        case .int: return .int(try r.varintSigned())
        case .bool: return .bool(try r.varint() != 0)
        case .double: return .double(try r.double())
        case .message(let name):
            var sub = try r.subReader()
            return try decodeMessage(&sub, name)
        case .quantity:
            var sub = try r.subReader()
            var text = ""
            while let (f, w) = try sub.nextTag() { if f == 1, w == 2 { text = try sub.string() } else { try sub.skip(w) } }
            return .string(text)
        case .intOrString:
            var sub = try r.subReader()
            var kind: Int64 = 0, intVal: Int64 = 0, strVal = ""
            while let (f, w) = try sub.nextTag() {
                switch f {
                case 1: kind = try sub.varintSigned()
                case 2: intVal = try sub.varintSigned()
                case 3: strVal = try sub.string()
                default: try sub.skip(w)
                }
            }
            return kind == 1 ? .string(strVal) : .int(intVal)
        case .time:
            var sub = try r.subReader()
            var seconds: Int64 = 0
            while let (f, w) = try sub.nextTag() { if f == 1 { seconds = try sub.varintSigned() } else { try sub.skip(w) } }
            // A zero Time is how Go writes an unset timestamp: leave the field out.
            return seconds == 0 ? .null : .string(RFC3339.format(seconds: seconds))
        case .map, .skip:
            try r.skip(wire)
            return .null
        }
    }
}

struct WireReader {
    let bytes: [UInt8]
    var i: Int
    let end: Int

    init(bytes: [UInt8], start: Int, end: Int) { self.bytes = bytes; i = start; self.end = end }

    var atEnd: Bool { i >= end }

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard i < end else { throw ProtobufError(message: "truncated protobuf varint") }
            let b = bytes[i]
            i += 1
            v |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
            if shift > 63 { throw ProtobufError(message: "protobuf varint too long") }
        }
    }

    mutating func varintSigned() throws -> Int64 { Int64(bitPattern: try varint()) }

    mutating func nextTag() throws -> (Int, Int)? {
        guard i < end else { return nil }
        let tag = try varint()
        return (Int(tag >> 3), Int(tag & 7))
    }

    mutating func lengthDelimited() throws -> (Int, Int) {
        let n = Int(try varint())
        guard n >= 0, i + n <= end else { throw ProtobufError(message: "truncated protobuf field") }
        defer { i += n }
        return (i, i + n)
    }

    mutating func subReader() throws -> WireReader {
        let (s, e) = try lengthDelimited()
        return WireReader(bytes: bytes, start: s, end: e)
    }

    mutating func string() throws -> String {
        let (s, e) = try lengthDelimited()
        return String(decoding: bytes[s..<e], as: UTF8.self)
    }

    mutating func double() throws -> Double {
        guard i + 8 <= end else { throw ProtobufError(message: "truncated protobuf double") }
        var bits: UInt64 = 0
        for k in 0..<8 { bits |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
        i += 8
        return Double(bitPattern: bits)
    }

    mutating func skip(_ wire: Int) throws {
        switch wire {
        case 0: _ = try varint()
        case 1: i += 8
        case 2: _ = try lengthDelimited()
        case 5: i += 4
        default: throw ProtobufError(message: "unsupported protobuf wire type \(wire)")
        }
        if i > end { throw ProtobufError(message: "truncated protobuf field") }
    }
}

enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ data: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((data.count + 2) / 3 * 4)
        var i = 0
        while i < data.count {
            let b0 = data[i], b1 = i + 1 < data.count ? data[i + 1] : 0, b2 = i + 2 < data.count ? data[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(i + 1 < data.count ? alphabet[Int((b1 & 0xf) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < data.count ? alphabet[Int(b2 & 0x3f)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

enum RFC3339 {
    /// Seconds since the epoch as "2026-11-25T11:25:00Z" (civil-from-days, no libc needed).
    static func format(seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secs = seconds - days * 86400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))T\(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60))Z"
    }
}
