// How objects sit in the store and leave it. The stored JSON never holds a resourceVersion — the
// store's revision is the version, as in Kubernetes over etcd — and always starts with kind,
// apiVersion, metadata. So serving an object is one copy that splices
// `"resourceVersion":"N",` in after `"metadata":{`: no parse, no re-encode on reads and watches.
import API
import Foundation

enum ObjectCodec {
    static let metadataMarker = Array(#""metadata":{"#.utf8)

    /// Bytes for the store: kind, apiVersion and metadata first; resourceVersion removed.
    static func encodeForStorage(_ object: JSONValue) -> [UInt8] {
        guard case .object(var o) = object else { return object.serialized() }
        if case .object(var meta)? = o["metadata"] {
            meta["resourceVersion"] = nil
            o["metadata"] = .object(meta)
        }
        o.moveToFront(["kind", "apiVersion", "metadata"])
        return JSONValue.object(o).serialized()
    }

    /// Stored bytes with `resourceVersion` set to `revision`, appended to `out`.
    static func render(_ stored: [UInt8], revision: Int64, into out: inout [UInt8]) {
        guard let at = markerEnd(stored) else { out.append(contentsOf: stored); return }
        out.append(contentsOf: stored[..<at])
        out.append(contentsOf: #""resourceVersion":""#.utf8)
        out.append(contentsOf: String(revision).utf8)
        out.append(UInt8(ascii: "\""))
        if at < stored.count, stored[at] != UInt8(ascii: "}") { out.append(UInt8(ascii: ",")) }
        out.append(contentsOf: stored[at...])
    }

    static func render(_ stored: [UInt8], revision: Int64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(stored.count + 32)
        render(stored, revision: revision, into: &out)
        return out
    }

    /// The index just past the top-level `"metadata":{`, which encodeForStorage puts within the
    /// first few dozen bytes (after the short kind and apiVersion strings).
    static func markerEnd(_ bytes: [UInt8]) -> Int? {
        let m = metadataMarker
        let limit = min(bytes.count - m.count, 256)
        guard limit >= 0 else { return nil }
        var i = 0
        while i <= limit {
            if bytes[i] == m[0] {
                var j = 1
                while j < m.count, bytes[i + j] == m[j] { j += 1 }
                if j == m.count { return i + m.count }
            }
            i += 1
        }
        return nil
    }

    /// The parsed object with its resourceVersion set (for filters, tables and patches).
    static func decode(_ stored: [UInt8], revision: Int64) -> JSONValue {
        guard var v = try? JSONValue.parse(stored) else { return .null }
        v["metadata"]?["resourceVersion"] = .string(String(revision))
        return v
    }

    // MARK: - server-set values

    static func timestamp(_ date: Date = Date()) -> String { KubeTime.format(date) }

    /// RFC 3339 in UTC as Kubernetes writes it ("2026-11-25T11:25:00Z").
    static func parseTimestamp(_ s: String) -> Date? { KubeTime.parse(s) }

    static func uid() -> String { UUID().uuidString.lowercased() }

    /// generateName's suffix: 5 characters from Kubernetes' alphabet (no vowels, no look-alikes).
    static func randomSuffix() -> String {
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<5).map { _ in alphabet.randomElement()! })
    }

    // MARK: - continue tokens

    static func continueToken(revision: Int64, after key: String) -> String {
        let json: JSONValue = ["v": "skiff.continue/1", "rv": .int(revision), "start": .string(key)]
        return Data(json.serialized()).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func parseContinueToken(_ token: String) -> (revision: Int64, after: String)? {
        var b64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), let v = try? JSONValue.parse(Array(data)),
              let rv = v["rv"]?.intValue, let start = v["start"]?.stringValue else { return nil }
        return (rv, start)
    }
}
