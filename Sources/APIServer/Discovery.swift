// Discovery (/api, /apis, group versions), /version, and the OpenAPI documents kubectl reads.
// kubectl decides validation from /openapi/v3: a PATCH operation that tags its kind
// (x-kubernetes-group-version-kind) and takes the `fieldValidation` query parameter tells it
// the server validates. PATCH operations carry no requestBody, so kubectl apply builds
// strategic merge patches from its compiled-in types rather than from a partial schema.
// kubectl 1.27 also fetches /openapi/v2 (protobuf) up front: an empty document satisfies it.
import API

enum Discovery {
    static let version: JSONValue = [
        "major": "1", "minor": "31", "gitVersion": "v1.31.0-skiff", "gitCommit": "skiff", "gitTreeState": "clean",
        "buildDate": "2026-11-25T00:00:00Z", "goVersion": "swift6", "compiler": "swift", "platform": "linux/amd64",
    ]

    static func coreVersions(serverAddress: String) -> JSONValue {
        ["kind": "APIVersions", "versions": ["v1"],
         "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress)]]]
    }

    static func groupJSON(_ group: String, served: ServedResources) -> JSONValue {
        let versions = served.groupVersions.filter { $0.hasPrefix(group + "/") }.map { gv -> JSONValue in
            ["groupVersion": .string(gv), "version": .string(String(gv.dropFirst(group.count + 1)))]
        }
        return ["kind": "APIGroup", "apiVersion": "v1", "name": .string(group), "versions": .array(versions),
                "preferredVersion": versions.first ?? .null]
    }

    static func groups(served: ServedResources) -> JSONValue {
        var names: [String] = []
        for gv in served.groupVersions where gv.contains("/") {
            let g = String(gv.split(separator: "/")[0])
            if !names.contains(g) { names.append(g) }
        }
        var groups: [JSONValue] = []
        for g in names {
            var j = groupJSON(g, served: served)
            j["kind"] = nil
            j["apiVersion"] = nil
            groups.append(j)
        }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups)]
    }

    static func resourceList(_ gv: String, served: ServedResources) -> JSONValue {
        let resources = served.resources(in: gv).map { r -> JSONValue in
            var j: JSONValue = ["name": .string(r.name), "singularName": .string(r.singularName), "namespaced": .bool(r.namespaced),
                                "kind": .string(r.kind), "verbs": .array(r.verbs.map { .string($0) })]
            if let s = r.shortNames { j["shortNames"] = .array(s.map { .string($0) }) }
            if let c = r.categories { j["categories"] = .array(c.map { .string($0) }) }
            if let sub = r.name.split(separator: "/").dropFirst().first, let (group, version) = ResourceRegistry.subresourceGroupVersions[String(sub)] {
                j["group"] = .string(group)
                j["version"] = .string(version)
            }
            return j
        }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(gv), "resources": .array(resources)]
    }

    // MARK: OpenAPI

    static func openAPIPathKey(_ gv: String) -> String { gv.contains("/") ? "apis/\(gv)" : "api/\(gv)" }

    static func openAPIV3Root(served: ServedResources) -> JSONValue {
        var paths = JSONObject()
        for gv in served.groupVersions {
            let key = openAPIPathKey(gv)
            paths[key] = ["serverRelativeURL": .string("/openapi/v3/\(key)?hash=skiff1")]
        }
        return ["paths": .object(paths)]
    }

    /// The document for one group version: every resource's paths with their operations.
    static func openAPIV3(_ key: String, served: ServedResources) -> JSONValue? {
        guard let gv = served.groupVersions.first(where: { openAPIPathKey($0) == key }) else { return nil }
        var paths = JSONObject()
        let fieldValidation: JSONValue = ["name": "fieldValidation", "in": "query", "schema": ["type": "string"],
                                          "description": "Strict, Warn or Ignore: how unknown or duplicate fields are handled."]
        for r in served.all where r.groupVersion == gv {
            let gvk: JSONValue = ["group": .string(r.group), "version": .string(r.version), "kind": .string(r.kind)]
            let base = "/" + key + (r.namespaced ? "/namespaces/{namespace}/" : "/") + r.plural
            let schemaRef: JSONValue = ["$ref": .string("#/components/schemas/\(schemaName(r))")]
            let ok: JSONValue = ["200": ["description": "OK", "content": ["application/json": ["schema": schemaRef]]]]
            func op(_ id: String) -> JSONValue {
                ["operationId": .string(id + r.kind), "x-kubernetes-group-version-kind": gvk, "responses": ok,
                 "parameters": [fieldValidation]]
            }
            if r.verbs == ResourceRegistry.readOnly {
                paths[base] = ["get": op("list")]
                paths[base + "/{name}"] = ["get": op("read")]
                continue
            }
            paths[base] = ["get": op("list"), "post": op("create")]
            paths[base + "/{name}"] = ["get": op("read"), "put": op("replace"), "patch": op("patch"), "delete": op("delete")]
        }
        var schemas = JSONObject()
        for r in served.all where r.groupVersion == gv {
            let gvk: JSONValue = [["group": .string(r.group), "version": .string(r.version), "kind": .string(r.kind)]]
            if let custom = r.custom {
                schemas[schemaName(r)] = customSchema(custom, gvk: gvk)
                continue
            }
            schemas[schemaName(r)] = [
                "type": "object", "description": .string("\(r.kind) (fields are validated by the server)"),
                "x-kubernetes-group-version-kind": gvk,
            ]
        }
        return ["openapi": "3.0.0", "info": ["title": "Skiff", "version": "v1.31.0"], "paths": .object(paths),
                "components": ["schemas": .object(schemas)]]
    }

    static func schemaName(_ r: ResourceType) -> String {
        // Upstream names a custom kind by its reversed group: com.example.stable.v1.CronTab.
        if r.custom != nil { return r.group.split(separator: ".").reversed().joined(separator: ".") + ".\(r.version).\(r.kind)" }
        let group = r.group.isEmpty ? "core" : r.group.split(separator: ".").first.map(String.init) ?? r.group
        return "io.k8s.api.\(group).\(r.version).\(r.kind)"
    }

    /// A custom kind's schema as the CRD gives it, with the type meta every object has (kubectl explain reads it).
    static func customSchema(_ custom: CustomResourceBehavior, gvk: JSONValue) -> JSONValue {
        var schema = custom.schema?.json ?? ["type": "object", "x-kubernetes-preserve-unknown-fields": true]
        var properties = schema["properties"]?.objectValue ?? JSONObject()
        let typeMeta: [(String, JSONValue)] = [
            ("apiVersion", ["type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."]),
            ("kind", ["type": "string", "description": "Kind is a string value representing the REST resource this object represents."]),
            ("metadata", ["type": "object", "description": "Standard object's metadata."]),
        ]
        for (key, value) in typeMeta where properties[key] == nil { properties[key] = value }
        schema["properties"] = .object(properties)
        schema["x-kubernetes-group-version-kind"] = gvk
        return schema
    }
}
