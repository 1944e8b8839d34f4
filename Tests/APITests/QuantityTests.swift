import Foundation
import Testing
@testable import API

@Suite struct QuantityTests {
    /// Canonical forms as Kubernetes prints them (resource.MustParse(x).String()).
    static let canonical: [(String, String)] = [
        ("0", "0"), ("1", "1"), ("1000", "1k"), ("1500", "1500"), ("0.1", "100m"), ("1.5", "1500m"),
        ("500m", "500m"), ("1000m", "1"), ("0.0001", "100u"), ("1n", "1n"), ("1.5n", "2n"),
        ("64Mi", "64Mi"), ("1Gi", "1Gi"), ("1.5Gi", "1536Mi"), ("0.5Ki", "512"), ("0.3Ki", "307200m"), ("1024Ki", "1Mi"),
        ("1e3", "1e3"), ("1.5e3", "1500"), ("12e6", "12e6"), ("1k", "1k"), ("2M", "2M"), ("-1Gi", "-1Gi"), ("+5", "5"),
        ("1E", "1E"), ("100Mi", "100Mi"),
    ]

    @Test(arguments: canonical)
    func canonicalForm(input: String, output: String) throws {
        #expect(try Quantity(parsing: input).description == output)
    }

    @Test(arguments: ["", "abc", "1.2.3", "5Zi", "1e", "--1", "Mi", "1 Gi", "1e1000"])
    func rejects(input: String) {
        #expect(throws: QuantityError.self) { try Quantity(parsing: input) }
    }

    @Test func valuesRoundUp() throws {
        #expect(try Quantity(parsing: "64Mi").value == 67_108_864)
        #expect(try Quantity(parsing: "0.5").milliValue == 500)
        #expect(try Quantity(parsing: "2").milliValue == 2000)
        #expect(try Quantity(parsing: "0.0001").milliValue == 1)
        #expect(try Quantity(parsing: "1.1").value == 2)
    }

    @Test func comparesByValueNotSpelling() throws {
        #expect(try Quantity(parsing: "1000m") == Quantity(parsing: "1"))
        #expect(try Quantity(parsing: "1Ki") == Quantity(parsing: "1024"))
        #expect(try Quantity(parsing: "100m") < Quantity(parsing: "0.2"))
        #expect(try Quantity(parsing: "1Gi") > Quantity(parsing: "1G"))
        #expect(try Quantity(parsing: "-1") < Quantity(parsing: "1n"))
        #expect(try Quantity(parsing: "1E") > Quantity(parsing: "999P"))
    }

    @Test func jsonAcceptsStringsAndNumbers() throws {
        struct R: Codable { var cpu: Quantity; var memory: Quantity }
        let r = try JSONDecoder().decode(R.self, from: Data(#"{"cpu": 2, "memory": "1.5Gi"}"#.utf8))
        #expect(r.cpu.description == "2" && r.memory.description == "1536Mi")
        let out = String(decoding: try JSONEncoder().encode(["q": try Quantity(parsing: "0.5")]), as: UTF8.self)
        #expect(out == #"{"q":"500m"}"#)
    }
}
