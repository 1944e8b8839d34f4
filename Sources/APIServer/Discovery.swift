// Discovery (/api, /apis, group versions), /version, and the OpenAPI documents kubectl reads.
// kubectl decides validation from /openapi/v3: a PATCH operation that tags its kind
// (x-kubernetes-group-version-kind) and takes the `fieldValidation` query parameter tells it
// the server validates. PATCH operations carry no requestBody, so kubectl apply builds
// strategic merge patches from its compiled-in types rather than from a partial schema.
// Built-in kinds' schemas come from the schema table (API/OpenAPI); custom kinds' from their CRD.
// /openapi/v2 is the same definitions as Swagger 2.0 JSON; asked for protobuf (kubectl 1.27 fetches
// it up front) it is still an empty document.
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

    /// The root lists each group version's document with a hash of its content (kubectl caches by it).
    static func openAPIV3Root(served: ServedResources) -> JSONValue {
        var paths = JSONObject()
        for gv in served.groupVersions {
            let key = openAPIPathKey(gv)
            let hash = openAPIV3(key, served: served)?.hash ?? ""
            paths[key] = ["serverRelativeURL": .string("/openapi/v3/\(key)?hash=\(hash)")]
        }
        return ["paths": .object(paths)]
    }

    /// A group version's document, serialized, and its hash. Those of the built-in group versions
    /// never change, so each is built once; one holding custom kinds is built when asked for.
    static func openAPIV3(_ key: String, served: ServedResources) -> (body: [UInt8], hash: String)? {
        guard let gv = served.groupVersions.first(where: { openAPIPathKey($0) == key }) else { return nil }
        if !served.all.contains(where: { $0.groupVersion == gv && $0.custom != nil }), let built = builtInV3[gv] { return built }
        return hashed(openAPIV3Document(gv, served: served).serialized())
    }

    static let builtInV3: [String: (body: [UInt8], hash: String)] = Dictionary(uniqueKeysWithValues: ServedResources.builtIn.groupVersions.map {
        ($0, hashed(openAPIV3Document($0, served: .builtIn).serialized()))
    })

    static func hashed(_ body: [UInt8]) -> (body: [UInt8], hash: String) {
        // FNV-1a: a content fingerprint for cache keys, not a security boundary.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in body { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return (body, String(h, radix: 16, uppercase: true))
    }

    /// The document for one group version: every resource's paths with their operations, and the
    /// schemas of its kinds with every component they refer to.
    static func openAPIV3Document(_ gv: String, served: ServedResources) -> JSONValue {
        let key = openAPIPathKey(gv)
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
        return ["openapi": "3.0.0", "info": ["title": "Skiff", "version": "v1.31.0"], "paths": .object(paths),
                "components": ["schemas": .object(schemas(in: gv, served: served, .v3))]]
    }

    /// The schemas of a group version's kinds: a custom kind's from its CRD, a built-in's from the
    /// schema table with all it refers to (a kind the table lacks gets an open placeholder).
    static func schemas(in gv: String, served: ServedResources, _ flavor: OpenAPIFlavor) -> JSONObject {
        var builtIn: [String] = []
        var schemas = JSONObject()
        for r in served.all where r.groupVersion == gv {
            let gvk: JSONValue = [["group": .string(r.group), "version": .string(r.version), "kind": .string(r.kind)]]
            if let custom = r.custom {
                schemas[schemaName(r)] = customSchema(custom, gvk: gvk)
            } else if let def = OpenAPIDefinitions.definition(for: GroupVersionKind(group: r.group, version: r.version, kind: r.kind)) {
                builtIn.append(def.name)
            } else {
                schemas[schemaName(r)] = [
                    "type": "object", "description": .string("\(r.kind) (fields are validated by the server)"),
                    "x-kubernetes-group-version-kind": gvk,
                ]
            }
        }
        for (name, schema) in OpenAPIDefinitions.components(reachableFrom: builtIn, flavor) where schemas[name] == nil {
            schemas[name] = schema
        }
        return schemas
    }

    /// Swagger 2.0 (/openapi/v2, JSON): every group version's definitions in one document.
    static func openAPIV2(served: ServedResources) -> JSONValue {
        var definitions = JSONObject()
        for gv in served.groupVersions {
            for (name, schema) in schemas(in: gv, served: served, .v2) where definitions[name] == nil { definitions[name] = schema }
        }
        return ["swagger": "2.0", "info": ["title": "Skiff", "version": "v1.31.0"], "paths": [:],
                "definitions": .object(JSONObject(definitions.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))]
    }

    static func schemaName(_ r: ResourceType) -> String {
        // Upstream names a custom kind by its reversed group: com.example.stable.v1.CronTab.
        if r.custom != nil { return r.group.split(separator: ".").reversed().joined(separator: ".") + ".\(r.version).\(r.kind)" }
        if let def = OpenAPIDefinitions.definition(for: GroupVersionKind(group: r.group, version: r.version, kind: r.kind)) { return def.name }
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
