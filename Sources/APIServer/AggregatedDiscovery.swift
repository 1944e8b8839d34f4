// Aggregated discovery (apidiscovery.k8s.io v2, and v2beta1 for kubectl 1.26–1.29): /api and
// /apis answer every group, version and resource in one document when the client's Accept
// asks for it, as kubectl ≥ 1.26 does first; other clients get the legacy documents.
import API

enum AggregatedDiscovery {
    /// The discovery version the Accept header asks for first (nil: the legacy documents).
    static func requestedVersion(_ accept: String?) -> String? {
        guard let accept else { return nil }
        for part in accept.split(separator: ",") where part.contains("as=APIGroupDiscoveryList") && part.contains("g=apidiscovery.k8s.io") {
            if part.contains("v=v2beta1") { return "v2beta1" }
            if part.contains("v=v2") { return "v2" }
        }
        return nil
    }

    static func contentType(_ version: String) -> String {
        "application/json;g=apidiscovery.k8s.io;v=\(version);as=APIGroupDiscoveryList"
    }

    /// The core group (`core: true`, /api) or every named group (/apis).
    static func document(core: Bool, version: String, served: ServedResources) -> JSONValue {
        var groups: [String] = []
        for gv in served.groupVersions where gv.contains("/") != core {
            let group = core ? "" : String(gv.split(separator: "/")[0])
            if !groups.contains(group) { groups.append(group) }
        }
        let items = groups.map { group -> JSONValue in
            let versions = served.groupVersions.filter { core ? !$0.contains("/") : $0.hasPrefix(group + "/") }
            return ["metadata": ["name": .string(group), "creationTimestamp": .null],
                    "versions": .array(versions.map { versionJSON($0, served: served) })]
        }
        return ["kind": "APIGroupDiscoveryList", "apiVersion": .string("apidiscovery.k8s.io/\(version)"),
                "metadata": .object(JSONObject()), "items": .array(items)]
    }

    static func versionJSON(_ gv: String, served: ServedResources) -> JSONValue {
        let group = gv.contains("/") ? String(gv.split(separator: "/")[0]) : ""
        let version = String(gv.split(separator: "/").last ?? "")
        let resources = served.all.filter { $0.groupVersion == gv }.map { r -> JSONValue in
            var j: JSONValue = [
                "resource": .string(r.plural),
                "responseKind": ["group": .string(group), "version": .string(version), "kind": .string(r.kind)],
                "scope": .string(r.namespaced ? "Namespaced" : "Cluster"),
                "singularResource": .string(r.singular),
                "verbs": .array(r.verbs.map(JSONValue.string)),
            ]
            if !r.shortNames.isEmpty { j["shortNames"] = .array(r.shortNames.map(JSONValue.string)) }
            let categories = r.custom?.categories ?? (r.inAllCategory ? ["all"] : [])
            if !categories.isEmpty { j["categories"] = .array(categories.map(JSONValue.string)) }
            let subresources = r.subresources.sorted { $0.key < $1.key }.map { sub, verbs -> JSONValue in
                let (subGroup, subVersion) = ResourceRegistry.subresourceGroupVersions[sub] ?? (group, version)
                let kind = ResourceRegistry.subresourceKinds[sub] ?? r.kind
                return ["subresource": .string(sub), "verbs": .array(verbs.map(JSONValue.string)),
                        "responseKind": ["group": .string(subGroup), "version": .string(subVersion), "kind": .string(kind)]]
            }
            if !subresources.isEmpty { j["subresources"] = .array(subresources) }
            return j
        }
        return ["version": .string(version), "resources": .array(resources), "freshness": "Current"]
    }
}

extension KubernetesAPI {
    /// /api or /apis: the aggregated document when asked for, else the legacy APIVersions / APIGroupList.
    func rootDiscovery(_ request: HTTPRequest, core: Bool, served: ServedResources) -> HTTPReply {
        if let version = AggregatedDiscovery.requestedVersion(request.headers.first(name: "accept")) {
            return .full(status: .ok, contentType: AggregatedDiscovery.contentType(version),
                         body: AggregatedDiscovery.document(core: core, version: version, served: served).serialized())
        }
        let legacy = core ? Discovery.coreVersions(serverAddress: serverAddress) : Discovery.groups(served: served)
        return JSONReply.bytes(legacy.serialized())
    }
}
