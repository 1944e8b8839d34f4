// Structural schemas: what makes one non-structural, validation wording, defaulting, pruning,
// and the JSONPath subset of printer columns and scale paths.
import Testing
@testable import API

@Suite struct CustomResourceSchemaTests {
    static func schema(_ text: String) throws -> StructuralSchema {
        var errors: [FieldError] = []
        let s = StructuralSchema.parse(try JSONValue.parse(Array(text.utf8)), path: "schema", errors: &errors)
        #expect(errors.isEmpty, "\(errors)")
        return s
    }

    @Test func nonStructuralSchemasAreNamed() throws {
        var errors: [FieldError] = []
        _ = StructuralSchema.parse(try JSONValue.parse(Array(##"{"type":"object","properties":{"a":{"properties":{}},"b":{"type":"array"},"c":{"$ref":"#/x","type":"string"}}}"##.utf8)),
                                   path: "s", errors: &errors)
        let text = errors.map(\.description)
        #expect(text.contains("s.properties[a].type: Required value: must not be empty for specified object fields"))
        #expect(text.contains("s.properties[b].items: Required value: must be specified"))
        #expect(text.contains("s.properties[c].$ref: Forbidden: $ref is forbidden in a structural schema"))
    }

    @Test func validationWordsErrorsAsKubernetes() throws {
        let s = try Self.schema(#"{"type":"object","properties":{"spec":{"type":"object","properties":{"replicas":{"type":"integer","maximum":10,"minimum":1},"name":{"type":"string","pattern":"^[a-z]+$"},"when":{"type":"string","format":"date-time"},"n":{"type":"number","exclusiveMaximum":true,"maximum":2.5}}}}}"#)
        let errors = SchemaValidation.validate(try JSONValue.parse(Array(#"{"spec":{"replicas":50,"name":"A1","when":"yesterday","n":2.5}}"#.utf8)), s).map(\.description)
        #expect(errors.contains("spec.replicas: Invalid value: 50: spec.replicas in body should be less than or equal to 10"))
        #expect(errors.contains(#"spec.name: Invalid value: "A1": spec.name in body should match '^[a-z]+$'"#))
        #expect(errors.contains(#"spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday""#))
        #expect(errors.contains("spec.n: Invalid value: 2.5: spec.n in body should be less than 2.5"))
        let typed = SchemaValidation.validate(try JSONValue.parse(Array(#"{"spec":{"replicas":"many"}}"#.utf8)), s).map(\.description)
        #expect(typed == [#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#])
        #expect(SchemaValidation.validate(try JSONValue.parse(Array(#"{"spec":{"replicas":3,"name":"ok"}}"#.utf8)), s).isEmpty)
    }

    @Test func defaultsThenPrunes() throws {
        let s = try Self.schema(#"{"type":"object","properties":{"spec":{"type":"object","properties":{"a":{"type":"string","default":"x"},"embedded":{"type":"object","x-kubernetes-embedded-resource":true,"x-kubernetes-preserve-unknown-fields":true}}}}}"#)
        var o = try JSONValue.parse(Array(#"{"apiVersion":"g/v1","kind":"K","metadata":{"name":"n"},"spec":{"b":1,"embedded":{"apiVersion":"v1","kind":"Pod","x":1}},"extra":true}"#.utf8))
        SchemaPruning.apply(&o, s)
        #expect(o.value(at: "spec.a") == "x")
        #expect(o.value(at: "spec.b") == nil)
        #expect(o["extra"] == nil)
        #expect(o.value(at: "metadata.name") == "n")
        #expect(o.value(at: "spec.embedded.x")?.intValue == 1)
        #expect(SchemaPruning.unknownFields(try JSONValue.parse(Array(#"{"spec":{"b":1},"kind":"K"}"#.utf8)), s) == ["spec.b"])
    }

    @Test func fieldPaths() throws {
        let o = try JSONValue.parse(Array(#"{"spec":{"replicas":3},"status":{"conditions":[{"type":"A","status":"False"},{"type":"Ready","status":"True"}]}}"#.utf8))
        #expect(FieldPath(".spec.replicas")?.first(in: o)?.intValue == 3)
        #expect(FieldPath(".status.conditions[1].type")?.first(in: o) == "Ready")
        #expect(FieldPath(#".status.conditions[?(@.type=="Ready")].status"#)?.first(in: o) == "True")
        var w = o
        FieldPath(".spec.replicas")?.set(.int(7), in: &w)
        FieldPath(".spec.deep.value")?.set(.int(1), in: &w)
        #expect(w.value(at: "spec.replicas")?.intValue == 7)
        #expect(w.value(at: "spec.deep.value")?.intValue == 1)
    }

    @Test func definitionNamesAndGroupAreChecked() throws {
        let crd = try JSONValue.parse(Array(#"{"metadata":{"name":"x.a.example.com"},"spec":{"group":"apps","scope":"Galaxy","names":{"plural":"widgets","singular":"widget","kind":"Widget","listKind":"WidgetList"},"versions":[{"name":"v1","served":true,"storage":false,"schema":{"openAPIV3Schema":{"type":"object"}}}]}}"#.utf8))
        let errors = CustomResourceDefinitionRules.strategy.validate(crd).map(\.description)
        #expect(errors.contains(#"spec.group: Invalid value: "apps": should be a domain with at least one dot"#))
        #expect(errors.contains { $0.hasPrefix(#"spec.group: Invalid value: "apps": the group is served"#) })
        #expect(errors.contains(#"spec.scope: Unsupported value: "Galaxy": supported values: "Cluster", "Namespaced""#))
        #expect(errors.contains { $0.hasPrefix("spec.versions: Invalid value") && $0.hasSuffix("must have exactly one version marked as storage version") })
    }
}
