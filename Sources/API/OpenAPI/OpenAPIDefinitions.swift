// The built-in kinds' OpenAPI definitions, generated from the schema (Generated/OpenAPITable.swift):
// one table that the /openapi documents (and so kubectl explain) and server-side apply's list
// merge keys read. Validation, defaulting and pruning of built-ins do not read it yet.

public struct GroupVersionKind: Sendable, Hashable {
    public var group: String, version: String, kind: String
    public init(group: String, version: String, kind: String) { self.group = group; self.version = version; self.kind = kind }
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
}

/// A field's type as OpenAPI describes it.
public indirect enum OpenAPIType: Sendable, Equatable {
    case string, integer, boolean, number, time, intOrString, quantity
    /// Any JSON value, kept as written.
    case any
    case enumeration([String])
    case array(OpenAPIType)
    case map(OpenAPIType)
    /// Another definition, by component name.
    case ref(String)
}

public struct OpenAPIField: Sendable {
    public var name: String, type: OpenAPIType, description: String
    /// The schema's `@name value` lines: required, mergeKey, listType, listMapKeys.
    public var annotations: [String: String]
    init(_ name: String, _ type: OpenAPIType, _ description: String, annotations: [String: String]) {
        self.name = name; self.type = type; self.description = description; self.annotations = annotations
    }
}

public struct OpenAPIDefinition: Sendable {
    public var name: String
    public var gvk: GroupVersionKind?
    public var description: String
    public var fields: [OpenAPIField]
    let byName: [String: Int]
    init(_ name: String, gvk: GroupVersionKind?, description: String, fields: [OpenAPIField]) {
        self.name = name; self.gvk = gvk; self.description = description
        // Every kind carries its type meta, as upstream's definitions list it.
        let typeMeta = gvk == nil ? [] : [
            OpenAPIField("apiVersion", .string, "The versioned schema of this object: group/version, or v1 for the core group.", annotations: [:]),
            OpenAPIField("kind", .string, "The kind of object this is, in CamelCase (Pod, Deployment).", annotations: [:]),
        ]
        self.fields = typeMeta + fields
        byName = Dictionary(self.fields.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
    }
    public func field(_ name: String) -> OpenAPIField? { byName[name].map { fields[$0] } }
}

public enum OpenAPIDefinitions {
    /// Upstream's shared leaf types, referred to by name as upstream documents do.
    static let quantityName = "io.k8s.apimachinery.pkg.api.resource.Quantity"
    static let timeName = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
    static let microTimeName = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"
    static let intOrStringName = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"

    public static let byName: [String: OpenAPIDefinition] = Dictionary(generated.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    /// A kind served in several versions (HorizontalPodAutoscaler) is looked up in the one it is stored in.
    static let byKind: [String: OpenAPIDefinition] = {
        var out: [String: OpenAPIDefinition] = [:]
        for d in generated {
            guard let gvk = d.gvk else { continue }
            let stored = ResourceRegistry.lookup(apiVersion: gvk.apiVersion, kind: gvk.kind).map(ResourceRegistry.isStorageVersion) ?? false
            if out[gvk.kind] == nil || stored { out[gvk.kind] = d }
        }
        return out
    }()

    /// The definition of a built-in kind, if the schema declares it.
    public static func definition(for gvk: GroupVersionKind) -> OpenAPIDefinition? {
        generated.first { $0.gvk == gvk }
    }

    /// The field reached from kind `kind` through the field names `path` (array items are looked through).
    public static func field(kind: String, path: [String]) -> OpenAPIField? {
        guard var def = byKind[kind], let last = path.last else { return nil }
        for name in path.dropLast() {
            guard let f = def.field(name), let next = referenced(f.type).flatMap({ byName[$0] }) else { return nil }
            def = next
        }
        return def.field(last)
    }

    /// The definition a type leads to (through arrays and maps).
    static func referenced(_ t: OpenAPIType) -> String? {
        switch t {
        case .ref(let name): return name
        case .array(let e), .map(let e): return referenced(e)
        default: return nil
        }
    }
}
