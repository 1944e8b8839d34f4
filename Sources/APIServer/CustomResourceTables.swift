// Table output for custom resources (their additionalPrinterColumns, as apiextensions-apiserver's
// table convertor prints them) and for CustomResourceDefinitions (upstream's NAME, CREATED AT).
import API
import Foundation

extension Tables {
    static func customColumns(_ custom: CustomResourceBehavior) -> [TableColumn] {
        [TableColumn(name: "Name", format: "name", description: "Name must be unique within a namespace.")]
            + custom.printerColumns.map {
                TableColumn(name: $0.name, type: $0.type, format: $0.format, priority: Int($0.priority), description: $0.description)
            }
    }

    static func customCells(_ o: JSONValue, _ custom: CustomResourceBehavior, now: Date) -> [JSONValue] {
        [.string(o["metadata"]?["name"]?.stringValue ?? "")] + custom.printerColumns.map { column in
            guard let path = FieldPath(column.jsonPath), let value = path.first(in: o), !value.isNull else { return .null }
            switch (column.type, value) {
            case ("date", .string(let s)): return .string(ageString(s, now: now))
            case (_, .string), (_, .int), (_, .double), (_, .bool): return value
            default: return .string(value.jsonString)
            }
        }
    }

    static let definitionColumns = [TableColumn(name: "Name", format: "name", description: "Name must be unique within a namespace."),
                                    TableColumn(name: "Created At", type: "date", description: "The time the definition was created.")]

    static func definitionCells(_ o: JSONValue) -> [JSONValue] {
        [.string(o["metadata"]?["name"]?.stringValue ?? ""), .string(o["metadata"]?["creationTimestamp"]?.stringValue ?? "")]
    }
}
