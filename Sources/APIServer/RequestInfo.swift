// Turns a URL path into what it addresses: a discovery document, or a resource (collection,
// object or subresource) in a group version, optionally inside a namespace — the same reading
// as k8s.io/apiserver's RequestInfoFactory.
import API

enum Route: Equatable {
    case root, version, healthz, metrics
    case coreVersions                    // /api
    case groups                          // /apis
    case group(String)                   // /apis/apps
    case resourceList(String)            // /api/v1, /apis/apps/v1
    case openAPIV2
    case openAPIV3Root
    case openAPIV3(String)               // /openapi/v3/api/v1, /openapi/v3/apis/apps/v1
    case resource(ResourceRequest)
    case notFound
}

struct ResourceRequest: Equatable {
    var type: ResourceType
    var namespace: String?               // nil: cluster-scoped or across all namespaces
    var name: String?
    var subresource: String?
}

enum RequestInfo {
    static func route(_ path: String, served: ServedResources = .builtIn) -> Route {
        let segs = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let first = segs.first else { return .root }
        switch first {
        case "version": return segs.count == 1 ? .version : .notFound
        case "healthz", "livez", "readyz": return .healthz
        case "metrics": return .metrics
        case "openapi":
            if segs == ["openapi", "v2"] { return .openAPIV2 }
            if segs == ["openapi", "v3"] { return .openAPIV3Root }
            if segs.count > 2, segs[1] == "v3" { return .openAPIV3(segs[2...].joined(separator: "/")) }
            return .notFound
        case "api":
            if segs.count == 1 { return .coreVersions }
            guard segs[1] == "v1" else { return .notFound }
            if segs.count == 2 { return .resourceList("v1") }
            return resource(groupVersion: "v1", Array(segs[2...]), served: served)
        case "apis":
            if segs.count == 1 { return .groups }
            if segs.count == 2 { return served.groupVersions.contains { $0.hasPrefix(segs[1] + "/") } ? .group(segs[1]) : .notFound }
            let gv = segs[1] + "/" + segs[2]
            guard served.groupVersions.contains(gv) else { return .notFound }
            if segs.count == 3 { return .resourceList(gv) }
            return resource(groupVersion: gv, Array(segs[3...]), served: served)
        default:
            return .notFound
        }
    }

    /// `rest` is what follows the group version: [namespaces, ns, plural, name, sub] or [plural, name, sub].
    static func resource(groupVersion: String, _ rest: [String], served: ServedResources) -> Route {
        var rest = rest
        var namespace: String?
        if rest.count >= 3, rest[0] == "namespaces" {
            // /namespaces/{name}/{status|finalize} addresses the namespace itself.
            let nsType = ResourceRegistry.lookup(groupVersion: "v1", plural: "namespaces")!
            if groupVersion == "v1", rest.count == 3, nsType.subresources[rest[2]] != nil {
                return .resource(ResourceRequest(type: nsType, namespace: nil, name: rest[1], subresource: rest[2]))
            }
            namespace = rest[1]
            rest = Array(rest[2...])
        }
        guard let type = served.lookup(groupVersion: groupVersion, plural: rest[0]) else { return .notFound }
        if namespace != nil && !type.namespaced { return .notFound }
        let name = rest.count > 1 ? rest[1] : nil
        let sub = rest.count > 2 ? rest[2] : nil
        if rest.count > 3 { return .notFound }
        if let sub, type.subresources[sub] == nil { return .notFound }
        return .resource(ResourceRequest(type: type, namespace: namespace, name: name, subresource: sub))
    }
}
