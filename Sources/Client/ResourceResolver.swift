// What a user types for a resource ("po", "pods", "pod", "deploy", "deployments.apps",
// "Deployment") to the resource it names, and the API paths for it.
import API

public enum ResourceResolver {
    public static func resolve(_ text: String) throws -> ResourceType {
        let lower = text.lowercased()
        let parts = lower.split(separator: ".", maxSplits: 1).map(String.init)
        let name = parts[0]
        let group = parts.count > 1 ? parts[1] : nil
        let matches = ResourceRegistry.all.filter { r in
            (group == nil || r.group == group) &&
                (r.plural == name || r.singular == name || r.shortNames.contains(name) || r.kind.lowercased() == name)
        }
        guard let first = matches.first else {
            throw ClientError("the server doesn't have a resource type \"\(text)\"")
        }
        return first
    }

    /// By manifest apiVersion and kind.
    public static func resolve(apiVersion: String, kind: String) throws -> ResourceType {
        guard let r = ResourceRegistry.lookup(apiVersion: apiVersion, kind: kind) else {
            throw ClientError("no matches for kind \"\(kind)\" in version \"\(apiVersion)\"")
        }
        return r
    }

    /// "/api/v1/namespaces/ns/pods/name/sub" (namespace ignored for cluster-scoped types; nil: all namespaces).
    public static func path(_ r: ResourceType, namespace: String?, name: String? = nil, subresource: String? = nil) -> String {
        var p = r.group.isEmpty ? "/api/\(r.version)" : "/apis/\(r.group)/\(r.version)"
        if r.namespaced, let namespace { p += "/namespaces/\(namespace)" }
        p += "/\(r.plural)"
        if let name { p += "/\(name)" }
        if let subresource { p += "/\(subresource)" }
        return p
    }

    /// How kubectl names an object in messages: "deployment.apps/web", "pod/x".
    public static func displayName(_ r: ResourceType, _ name: String) -> String {
        r.singular + (r.group.isEmpty ? "" : "." + r.group) + "/" + name
    }
}

/// Query-string escaping for selectors and options.
public func queryEscape(_ s: String) -> String {
    var out = ""
    for b in s.utf8 {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            out.append(Character(Unicode.Scalar(b)))
        default:
            out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
        }
    }
    return out
}
