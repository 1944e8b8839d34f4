// The resources a CustomResourceDefinition serves: one ResourceType per served version, each
// carrying what is custom about it (CustomResourceBehavior: schema, subresources, printer
// columns), so custom kinds go through the same routing and storage as built-in ones.

/// One printer column (additionalPrinterColumns): a JSONPath into the object.
public struct PrinterColumn: Sendable, Equatable {
    public var name: String
    public var type: String
    public var format: String
    public var description: String
    public var priority: Int64
    public var jsonPath: String
}

/// The scale subresource's paths (.spec.replicas style, as the CRD gives them).
public struct ScalePaths: Sendable, Equatable {
    public var specReplicasPath: String
    public var statusReplicasPath: String
    public var labelSelectorPath: String?
}

/// What a custom resource version has that a built-in one gets from code.
public final class CustomResourceBehavior: Sendable, Equatable {
    /// The CRD's name, <plural>.<group>.
    public let definitionName: String
    public let schema: StructuralSchema?
    public let printerColumns: [PrinterColumn]
    public let scale: ScalePaths?
    public let categories: [String]
    public let strategy: ResourceStrategy
    /// The version objects are stored in (nil: this one).
    public let storageType: ResourceType?
    /// The definition is being deleted: its objects are going, no new ones are taken.
    public let terminating: Bool

    init(definitionName: String, schema: StructuralSchema?, printerColumns: [PrinterColumn], scale: ScalePaths?, categories: [String],
         hasStatus: Bool, storageType: ResourceType?, terminating: Bool) {
        self.definitionName = definitionName
        self.terminating = terminating
        self.schema = schema
        self.printerColumns = printerColumns
        self.scale = scale
        self.categories = categories
        self.storageType = storageType
        var strategy = ResourceStrategy()
        strategy.hasStatus = hasStatus
        strategy.tracksGeneration = true
        if let schema {
            strategy.applyDefaults = { SchemaPruning.apply(&$0, schema) }
            strategy.validate = { SchemaValidation.validate($0, schema) }
        }
        self.strategy = strategy
    }

    public static func == (a: CustomResourceBehavior, b: CustomResourceBehavior) -> Bool { a === b }
}

extension ResourceType {
    /// The defaulting and validation of writes: the schema's for a custom resource.
    public var strategy: ResourceStrategy { custom?.strategy ?? ResourceStrategy.forKind(kind) }
}

public enum CustomResourceTypes {
    /// The resources an Established definition serves, the storage version first.
    public static func served(by crd: JSONValue) -> [ResourceType] {
        guard let name = crd["metadata"]?["name"]?.stringValue, let spec = crd["spec"], let group = spec["group"]?.stringValue,
              let names = spec["names"], let plural = names["plural"]?.stringValue, let kind = names["kind"]?.stringValue
        else { return [] }
        let namespaced = spec["scope"]?.stringValue != "Cluster"
        let singular = names["singular"]?.stringValue ?? kind.lowercased()
        let shortNames = (names["shortNames"]?.arrayValue ?? []).compactMap(\.stringValue)
        let categories = (names["categories"]?.arrayValue ?? []).compactMap(\.stringValue)
        let all = spec["versions"]?.arrayValue ?? []
        let versions = all.filter { $0["storage"]?.boolValue == true } + all.filter { $0["storage"]?.boolValue != true }
        var out: [ResourceType] = []
        var storage: ResourceType?
        for v in versions where v["served"]?.boolValue == true || v["storage"]?.boolValue == true {
            guard let version = v["name"]?.stringValue else { continue }
            var errors: [FieldError] = []
            let schema = v["schema"]?["openAPIV3Schema"].map { StructuralSchema.parse($0, path: "", errors: &errors) }
            let subresources = v["subresources"] ?? .null
            let scale = subresources["scale"].flatMap { s -> ScalePaths? in
                guard let spec = s["specReplicasPath"]?.stringValue, let status = s["statusReplicasPath"]?.stringValue else { return nil }
                return ScalePaths(specReplicasPath: spec, statusReplicasPath: status, labelSelectorPath: s["labelSelectorPath"]?.stringValue)
            }
            let behavior = CustomResourceBehavior(
                definitionName: name, schema: schema, printerColumns: printerColumns(v), scale: scale, categories: categories,
                hasStatus: subresources["status"] != nil, storageType: storage,
                terminating: crd["metadata"]?["deletionTimestamp"] != nil)
            var sub: [String: [String]] = [:]
            if subresources["status"] != nil { sub["status"] = ResourceRegistry.statusVerbs }
            if scale != nil { sub["scale"] = ResourceRegistry.statusVerbs }
            var type = ResourceType(group: group, version: version, plural: plural, singular: singular, kind: kind, namespaced: namespaced,
                                    shortNames: shortNames, subresources: sub, inAllCategory: categories.contains("all"))
            type.custom = behavior
            if storage == nil { storage = type }
            // Served versions only; a storage version that is not served still stores (and names the storage key).
            if v["served"]?.boolValue == true { out.append(type) }
        }
        return out
    }

    /// additionalPrinterColumns, or upstream's default: an Age column.
    static func printerColumns(_ version: JSONValue) -> [PrinterColumn] {
        guard let columns = version["additionalPrinterColumns"]?.arrayValue else {
            return [PrinterColumn(name: "Age", type: "date", format: "", description: "", priority: 0, jsonPath: ".metadata.creationTimestamp")]
        }
        return columns.compactMap { c in
            guard let name = c["name"]?.stringValue, let path = c["jsonPath"]?.stringValue else { return nil }
            return PrinterColumn(name: name, type: c["type"]?.stringValue ?? "string", format: c["format"]?.stringValue ?? "",
                                 description: c["description"]?.stringValue ?? "", priority: c["priority"]?.intValue ?? 0, jsonPath: path)
        }
    }
}
