import Testing
@testable import API

@Suite struct LabelSelectorTests {
    let web = ["app": "web", "tier": "frontend", "gen": "5", "example.com/team": "core"]

    static let matching: [(String, Bool)] = [
        ("", true),
        ("app=web", true),
        ("app==web", true),
        ("app!=web", false),
        ("app=db", false),
        ("tier in (frontend, backend)", true),
        ("tier notin (frontend)", false),
        ("missing notin (x)", true),
        ("missing!=x", true),
        ("app", true),
        ("!app", false),
        ("!missing", true),
        ("gen>3", true),
        ("gen<3", false),
        ("missing>3", false),
        ("app=web,tier=frontend", true),
        ("app=web,tier=backend", false),
        ("example.com/team=core", true),
        ("  app = web ,  !legacy  ", true),
        ("tier in (),app", false),
    ]

    @Test(arguments: matching)
    func parsesAndMatches(selector: String, expected: Bool) throws {
        if selector == "tier in (),app" {
            #expect(throws: FieldError.self) { try LabelSelector(parsing: selector) }
            return
        }
        #expect(try LabelSelector(parsing: selector).matches(web) == expected, "\(selector)")
    }

    @Test func parsedStructure() throws {
        let s = try LabelSelector(parsing: "app=web,env in (a,b),!legacy,gen>3")
        #expect(s.requirements == [
            LabelRequirement(key: "app", op: .equals, values: ["web"]),
            LabelRequirement(key: "env", op: .in, values: ["a", "b"]),
            LabelRequirement(key: "legacy", op: .doesNotExist, values: []),
            LabelRequirement(key: "gen", op: .greaterThan, values: ["3"]),
        ])
        #expect(s.description == "app=web,env in (a,b),!legacy,gen>3")
        #expect(try LabelSelector(parsing: "a=").matches(["a": ""]))
    }

    @Test(arguments: ["app=", "=web", "app=web,", "app in web", "app in (a", "-bad=x", "app=x y", "gen>three", "a/b/c=x", "app=web!"])
    func rejectsMalformedSelectors(selector: String) {
        if selector == "app=" { #expect((try? LabelSelector(parsing: selector)) != nil); return }
        do {
            _ = try LabelSelector(parsing: selector)
            Issue.record("\(selector) should be refused")
        } catch let e as FieldError {
            #expect(e.field == "labelSelector")
            // The value quoted is the whole selector, or the key/value in it that is wrong.
            #expect(e.description.hasPrefix("labelSelector: Invalid value: \""))
            #expect(selector.contains(e.value), "\(e)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite struct NameValidationTests {
    @Test func dns1123() {
        #expect(NameValidation.dns1123Subdomain("web-1.example", field: "metadata.name").isEmpty)
        #expect(NameValidation.dns1123Subdomain("Web", field: "metadata.name").first?.description ==
                "metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")
        #expect(!NameValidation.dns1123Subdomain("a..b", field: "f").isEmpty)
        #expect(!NameValidation.dns1123Subdomain(String(repeating: "a", count: 254), field: "f").isEmpty)
        #expect(NameValidation.dns1123Label("default", field: "f").isEmpty)
        #expect(!NameValidation.dns1123Label("a.b", field: "f").isEmpty)
        #expect(!NameValidation.dns1123Label(String(repeating: "a", count: 64), field: "f").isEmpty)
    }

    @Test func labelKeysAndValues() {
        #expect(NameValidation.qualifiedName("app.kubernetes.io/name", field: "metadata.labels").isEmpty)
        #expect(NameValidation.qualifiedName("Tier_1", field: "f").isEmpty)
        #expect(!NameValidation.qualifiedName("/name", field: "f").isEmpty)
        #expect(!NameValidation.qualifiedName("UPPER.example/name", field: "f").isEmpty)
        #expect(!NameValidation.qualifiedName("-x", field: "f").isEmpty)
        #expect(NameValidation.labelValue("", field: "f").isEmpty)
        #expect(NameValidation.labelValue("v1.2_3-a", field: "f").isEmpty)
        #expect(!NameValidation.labelValue("a b", field: "f").isEmpty)
        #expect(!NameValidation.labelValue(String(repeating: "v", count: 64), field: "f").isEmpty)
    }
}

@Suite struct FieldSelectorTests {
    let pod = ["metadata.name": "web-1", "metadata.namespace": "default", "spec.nodeName": "node-a", "status.phase": "Running"]

    @Test func parsesAndMatches() throws {
        #expect(try FieldSelector(parsing: "").matches(pod))
        #expect(try FieldSelector(parsing: "metadata.name=web-1").matches(pod))
        #expect(try FieldSelector(parsing: "metadata.name==web-1,status.phase=Running").matches(pod))
        #expect(!(try FieldSelector(parsing: "spec.nodeName!=node-a").matches(pod)))
        // kubectl's "unscheduled pods" query: an empty nodeName.
        #expect(try FieldSelector(parsing: "spec.nodeName=").matches(["spec.nodeName": ""]))
        #expect(!(try FieldSelector(parsing: "spec.nodeName=").matches(pod)))
        let escaped = try FieldSelector(parsing: #"metadata.name=a\,b\=c"#)
        #expect(escaped.requirements == [FieldRequirement(field: "metadata.name", value: "a,b=c", negated: false)])
    }

    @Test func refusesMalformedAndUnsupported() {
        #expect(throws: FieldError.self) { try FieldSelector(parsing: "metadata.name") }
        #expect(throws: FieldError.self) { try FieldSelector(parsing: "=x") }
        do {
            _ = try FieldSelector(parsing: "spec.color=red", supported: ["metadata.name", "spec.nodeName"])
            Issue.record("unsupported field must be refused")
        } catch let e as FieldError {
            #expect(e.kind == .notSupported)
            #expect(e.description.contains("spec.color"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
