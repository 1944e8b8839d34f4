// Validation of a pod's name-resolution settings (k8s.io/kubernetes/pkg/apis/core/validation):
// dnsConfig within the limits of libc's resolver, dnsPolicy None with a nameserver to use,
// hostname and subdomain as DNS labels, hostAliases with real IP addresses.
#if canImport(Glibc)
import Glibc
#endif

extension PodRules {
    /// libc's resolver limits (MAXNS, MAXDNSRCH and the search line's length), as Kubernetes enforces them.
    public static let maxDNSNameservers = 3
    public static let maxDNSSearchPaths = 32
    public static let maxDNSSearchListChars = 2048

    static func validateDNS(_ spec: JSONValue, path: String) -> [FieldError] {
        var errs: [FieldError] = []
        let config = spec["dnsConfig"].flatMap { $0.isNull ? nil : $0 }
        let p = path + ".dnsConfig"
        if spec["dnsPolicy"]?.stringValue == "None" {
            guard let config else { return [FieldError(.required, field: p, detail: "must provide `dnsConfig` when `dnsPolicy` is None")] }
            if (config["nameservers"]?.arrayValue ?? []).isEmpty {
                errs.append(FieldError(.required, field: p + ".nameservers", detail: "must provide at least one DNS nameserver when `dnsPolicy` is None"))
                return errs
            }
        }
        if let config { errs += validateDNSConfig(config, path: p) }
        for key in ["hostname", "subdomain"] {
            if let name = spec[key]?.stringValue, !name.isEmpty { errs += NameValidation.dns1123Label(name, field: "\(path).\(key)") }
        }
        for (i, alias) in (spec["hostAliases"]?.arrayValue ?? []).enumerated() {
            let ap = "\(path).hostAliases[\(i)]"
            errs += NameValidation.ipAddress(alias["ip"]?.stringValue ?? "", field: ap + ".ip")
            for (j, host) in (alias["hostnames"]?.arrayValue ?? []).enumerated() {
                errs += NameValidation.dns1123Subdomain(host.stringValue ?? "", field: "\(ap).hostnames[\(j)]")
            }
        }
        return errs
    }

    static func validateDNSConfig(_ config: JSONValue, path: String) -> [FieldError] {
        var errs: [FieldError] = []
        let servers = (config["nameservers"]?.arrayValue ?? []).map { $0.stringValue ?? "" }
        if servers.count > maxDNSNameservers {
            errs.append(.invalid(path + ".nameservers", strings: servers, detail: "must not have more than \(maxDNSNameservers) nameservers"))
        }
        for (i, s) in servers.enumerated() { errs += NameValidation.ipAddress(s, field: "\(path).nameservers[\(i)]") }
        let searches = (config["searches"]?.arrayValue ?? []).map { $0.stringValue ?? "" }
        if searches.count > maxDNSSearchPaths {
            errs.append(.invalid(path + ".searches", strings: searches, detail: "must not have more than \(maxDNSSearchPaths) search paths"))
        }
        // (The spaces between the entries count: it is one resolv.conf line.)
        if searches.joined(separator: " ").utf8.count > maxDNSSearchListChars {
            errs.append(.invalid(path + ".searches", strings: searches,
                                 detail: "must not have more than \(maxDNSSearchListChars) characters (including spaces) in the search list"))
        }
        for (i, s) in searches.enumerated() {
            // A trailing dot (an absolute name) is fine.
            errs += NameValidation.dns1123Subdomain(s.hasSuffix(".") ? String(s.dropLast()) : s, field: "\(path).searches[\(i)]")
        }
        for (i, option) in (config["options"]?.arrayValue ?? []).enumerated() where (option["name"]?.stringValue ?? "").isEmpty {
            errs.append(FieldError(.required, field: "\(path).options[\(i)]", detail: "must not be empty"))
        }
        return errs
    }
}

extension NameValidation {
    /// An IPv4 or IPv6 address in its usual text form (no leading zeros, no zone).
    public static func ipAddress(_ s: String, field: String) -> [FieldError] {
        var buffer = [UInt8](repeating: 0, count: 16)
        let ok = s.withCString { c in inet_pton(AF_INET, c, &buffer) == 1 || inet_pton(AF_INET6, c, &buffer) == 1 }
        return ok ? [] : [FieldError(.invalid, field: field, value: s, detail: "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    }
}
