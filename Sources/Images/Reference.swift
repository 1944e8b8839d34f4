// Image references, normalised as Docker does:
//   busybox → docker.io/library/busybox:latest, host:5000/ns/name:tag, name@sha256:...

public struct Reference: Hashable, Sendable, CustomStringConvertible {
    public var domain: String
    public var path: String
    public var tag: String?
    public var digest: Digest?

    public static let defaultDomain = "docker.io"

    public init(parsing text: String) throws {
        let bad = { (why: String) in ImageError(.invalidReference, "invalid image reference \"\(text)\": \(why)") }
        guard !text.isEmpty, text.utf8.count <= 255 else { throw bad("empty or too long") }
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            digest = try Digest(parsing: String(rest[rest.index(after: at)...]))
            rest = rest[..<at]
        }
        // A tag is after the last ':' that comes after the last '/'.
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            let t = String(rest[rest.index(after: colon)...])
            guard !t.isEmpty, t.count <= 128, t.utf8.allSatisfy({ Reference.isTagByte($0) }),
                  let first = t.utf8.first, first != UInt8(ascii: "."), first != UInt8(ascii: "-") else {
                throw bad("bad tag \"\(t)\"")
            }
            tag = t
            rest = rest[..<colon]
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let first = components.first, !first.isEmpty else { throw bad("missing name") }
        // The first component is a registry host if it looks like one (Docker's rule).
        if components.count > 1 && (first.contains(".") || first.contains(":") || first == "localhost") {
            domain = first
            components.removeFirst()
        } else {
            domain = Reference.defaultDomain
        }
        if domain == "index.docker.io" { domain = Reference.defaultDomain }
        if domain == Reference.defaultDomain && components.count == 1 { components.insert("library", at: 0) }
        for c in components {
            guard !c.isEmpty, c.utf8.allSatisfy({ Reference.isPathByte($0) }),
                  let f = c.utf8.first, Reference.isAlnum(f), let l = c.utf8.last, Reference.isAlnum(l) else {
                throw bad("name component \"\(c)\" must be lowercase letters, digits and separators")
            }
        }
        path = components.joined(separator: "/")
        if tag == nil && digest == nil { tag = "latest" }
    }

    /// domain/path without tag or digest.
    public var repository: String { domain + "/" + path }

    public var description: String {
        var s = repository
        if let tag { s += ":" + tag }
        if let digest { s += "@" + digest.description }
        return s
    }

    /// The short form people type: "busybox:latest" for docker.io/library/busybox:latest.
    public var familiar: String {
        var name = repository
        if domain == Reference.defaultDomain {
            name = path.hasPrefix("library/") ? String(path.dropFirst(8)) : path
        }
        if let tag { name += ":" + tag }
        if let digest { name += "@" + digest.description }
        return name
    }

    static func isAlnum(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
    static func isPathByte(_ b: UInt8) -> Bool { isAlnum(b) || b == 46 || b == 95 || b == 45 }
    static func isTagByte(_ b: UInt8) -> Bool { isPathByte(b) || (b >= 65 && b <= 90) }
}
