import API
import Foundation
import Testing

@Suite struct JSONTests {
    @Test func roundTripsUnknownFieldsKeepsOrderAndExactIntegers() throws {
        let text = #"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"futureField":{"x":[1,2.5,true,null,"s"]},"replicas":9007199254740993}}"#
        var v = try JSONValue.parse(text)
        #expect(v.value(at: "metadata.name") == "web")
        #expect(v.value(at: "metadata.labels")?.stringMap == ["app": "web"])
        #expect(v.value(at: "spec.replicas") == .int(9_007_199_254_740_993))
        #expect(v.value(at: "spec.futureField.x")?.arrayValue?.count == 5)
        #expect(v.jsonString == text)
        v["status"] = ["phase": "Running"]
        #expect(try JSONValue.parse(v.jsonString) == v)
        #expect(v.objectValue?.keys == ["kind", "apiVersion", "metadata", "spec", "status"])
    }

    @Test func stringsEscapeAndUnescape() throws {
        let v = try JSONValue.parse(#"["a\"b\\c\n\t\u00e9\ud83d\ude00/\/", "\u0001"]"#)
        #expect(v.arrayValue?[0] == .string("a\"b\\c\n\té😀//"))
        #expect(try JSONValue.parse(v.jsonString) == v)
        #expect(v.jsonString.contains(#"\u0001"#))
    }

    @Test func objectsCompareRegardlessOfOrder() throws {
        #expect(try JSONValue.parse(#"{"a":1,"b":[1,2]}"#) == JSONValue.parse(#"{"b":[1,2],"a":1}"#))
        #expect(try JSONValue.parse(#"{"a":1}"#) != JSONValue.parse(#"{"a":2}"#))
        #expect(try JSONValue.parse(#"{"a":1.5}"#).jsonString == #"{"a":1.5}"#)
        #expect(JSONValue.double(3).jsonString == "3")
    }

    @Test(arguments: [
        ("", "unexpected end of input"), ("{", "unexpected end of input"), (#"{"a" 1}"#, "expected ':'"),
        ("[1,]", "unexpected ']'"), ("01", "leading zero"), (#""abc"#, "unterminated string"), ("{} x", "after the document"),
        ("tru", "unexpected end of input"), (#"{"a":1,}"#, "expected a string key"), ("\"\u{01}\"", "control character"),
    ])
    func malformedInputIsRefusedWithPosition(input: String, message: String) {
        #expect {
            _ = try JSONValue.parse(input)
        } throws: { error in
            let e = error as? JSONParseError
            return e?.description.contains(message) == true && e?.description.contains("line 1") == true
        }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
    }

    @Test func errorLineAndColumnPointAtTheProblem() {
        do {
            _ = try JSONValue.parse("{\n  \"a\": 1,\n  \"b\": ?\n}")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 3)
            #expect(error.column == 8)
        }
    }
}
