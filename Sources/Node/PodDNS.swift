// A pod's /etc/resolv.conf, as the kubelet builds it from spec.dnsPolicy and spec.dnsConfig:
// ClusterFirst points at the cluster DNS with the namespace's search path and ndots:5 (plus the
// host's search domains), Default copies the host's resolver, None takes dnsConfig alone, and
// dnsConfig's nameservers, searches and options are merged on top. Also the pod's FQDN
// (hostname.subdomain.ns.svc.<domain>) for /etc/hosts.
import API

/// What the node knows about DNS: the cluster DNS servers (--cluster-dns), the cluster domain,
/// and the host's own resolver (for Default and the extra search domains).
public struct ClusterDNSSettings: Sendable {
    public var servers: [String]
    public var domain: String
    public var host: ResolvConf

    public init(servers: [String], domain: String, host: ResolvConf) {
        self.servers = servers
        self.domain = domain
        self.host = host
    }
}

/// The three things a resolv.conf says.
public struct ResolvConf: Equatable, Sendable {
    public var nameservers: [String] = []
    public var searches: [String] = []
    public var options: [String] = []

    // The limits the kubelet applies (glibc reads at most 3 nameservers).
    static let maxNameservers = 3
    static let maxSearches = 32

    public init(nameservers: [String] = [], searches: [String] = [], options: [String] = []) {
        self.nameservers = nameservers
        self.searches = searches
        self.options = options
    }

    /// The host's file, read the way glibc does (the last search/domain line wins).
    public init(parsing text: String) {
        for raw in text.split(separator: "\n") {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let keyword = words.first else { continue }
            let rest = Array(words.dropFirst())
            switch keyword {
            case "nameserver": nameservers += rest.prefix(1)
            case "search", "domain": searches = rest
            case "options": options += rest
            default: continue
            }
        }
    }

    /// The file's text: search, nameserver and options lines, as container runtimes write it.
    public var text: String {
        var out = ""
        if !searches.isEmpty { out += "search " + searches.joined(separator: " ") + "\n" }
        for server in nameservers { out += "nameserver " + server + "\n" }
        if !options.isEmpty { out += "options " + options.joined(separator: " ") + "\n" }
        return out
    }
}

/// spec.dnsPolicy and spec.dnsConfig, read once.
struct PodDNSSpec {
    enum Policy: String { case clusterFirst = "ClusterFirst", clusterFirstWithHostNet = "ClusterFirstWithHostNet", none = "None", hostDefault = "Default" }

    var policy: Policy
    var hostNetwork: Bool
    var namespace: String
    var extra: ResolvConf

    init(pod: JSONValue) {
        let spec = pod["spec"] ?? .null
        policy = spec["dnsPolicy"]?.stringValue.flatMap(Policy.init(rawValue:)) ?? .clusterFirst
        hostNetwork = spec["hostNetwork"]?.boolValue == true
        namespace = pod["metadata"]?["namespace"]?.stringValue ?? "default"
        let config = spec["dnsConfig"] ?? .null
        extra = ResolvConf(
            nameservers: (config["nameservers"]?.arrayValue ?? []).compactMap(\.stringValue),
            searches: (config["searches"]?.arrayValue ?? []).compactMap(\.stringValue),
            options: (config["options"]?.arrayValue ?? []).compactMap { option in
                guard let name = option["name"]?.stringValue else { return nil }
                return option["value"]?.stringValue.map { name + ":" + $0 } ?? name
            })
    }
}

enum PodDNS {
    /// The pod's resolver and, when the node had to fall back or cut something, why (for an event).
    static func resolvConf(_ pod: JSONValue, settings: ClusterDNSSettings) -> (ResolvConf, warning: String?) {
        let spec = PodDNSSpec(pod: pod)
        var warning: String?
        var base: ResolvConf
        let wantsCluster = spec.policy == .clusterFirstWithHostNet || (spec.policy == .clusterFirst && !spec.hostNetwork)
        switch spec.policy {
        case .none:
            base = ResolvConf()
        case _ where wantsCluster && settings.servers.isEmpty:
            // The kubelet's MissingClusterDNS: no cluster DNS configured, the host's resolver instead.
            warning = "kubelet does not have ClusterDNS IP configured and cannot create Pod using \"\(spec.policy.rawValue)\" policy. Falling back to \"Default\" policy."
            base = settings.host
        case _ where wantsCluster:
            let domain = settings.domain
            base = ResolvConf(nameservers: settings.servers,
                              searches: ["\(spec.namespace).svc.\(domain)", "svc.\(domain)", domain] + settings.host.searches,
                              options: ["ndots:5"])
        default:
            base = settings.host
        }
        base.nameservers = unique(base.nameservers + spec.extra.nameservers)
        base.searches = unique(base.searches + spec.extra.searches)
        base.options = mergeOptions(base.options, spec.extra.options)
        if base.nameservers.count > ResolvConf.maxNameservers {
            warning = "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: "
                + base.nameservers.prefix(ResolvConf.maxNameservers).joined(separator: " ")
            base.nameservers = Array(base.nameservers.prefix(ResolvConf.maxNameservers))
        }
        if base.searches.count > ResolvConf.maxSearches {
            warning = "Search Line limits were exceeded, some search paths have been omitted"
            base.searches = Array(base.searches.prefix(ResolvConf.maxSearches))
        }
        return (base, warning)
    }

    /// hostname.subdomain.namespace.svc.<domain> when the pod names a subdomain (the name a
    /// headless Service of that name publishes for it), else nil.
    static func fqdn(_ pod: JSONValue, hostname: String, domain: String) -> String? {
        guard let subdomain = pod["spec"]?["subdomain"]?.stringValue, !subdomain.isEmpty else { return nil }
        let namespace = pod["metadata"]?["namespace"]?.stringValue ?? "default"
        return "\(hostname).\(subdomain).\(namespace).svc.\(domain)"
    }

    static func unique(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { seen.insert($0).inserted }
    }

    /// Options by name; a later one (the pod's dnsConfig) replaces an earlier one of the same name.
    static func mergeOptions(_ base: [String], _ overrides: [String]) -> [String] {
        func name(_ option: String) -> Substring { option.split(separator: ":", maxSplits: 1).first ?? "" }
        var out = base
        for option in overrides {
            if let i = out.firstIndex(where: { name($0) == name(option) }) { out[i] = option } else { out.append(option) }
        }
        return out
    }
}
