// Reads Prometheus' text exposition (what /metrics answers) back into samples, so tests ask for
// a series by name and labels rather than matching text.
import Foundation

public struct PrometheusSample: Sendable, Equatable {
    public var name: String
    public var labels: [String: String]
    public var value: Double
}

public struct PrometheusText: Sendable {
    public let samples: [PrometheusSample]
    /// Metric name → type, from the # TYPE lines.
    public let types: [String: String]
    /// Metric name → help, from the # HELP lines.
    public let help: [String: String]

    public init(_ text: String) {
        var samples: [PrometheusSample] = [], types: [String: String] = [:], help: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") {
                let rest = line.dropFirst(7)
                guard let space = rest.firstIndex(of: " ") else { continue }
                let name = String(rest[..<space]), value = String(rest[rest.index(after: space)...])
                if line.hasPrefix("# TYPE ") { types[name] = value } else { help[name] = value }
                continue
            }
            if line.hasPrefix("#") { continue }
            if let sample = Self.sample(line) { samples.append(sample) }
        }
        self.samples = samples
        self.types = types
        self.help = help
    }

    public init(_ bytes: [UInt8]) { self.init(String(decoding: bytes, as: UTF8.self)) }

    /// name{a="b",...} value — label values with \" \\ \n escapes.
    static func sample(_ line: Substring) -> PrometheusSample? {
        var labels: [String: String] = [:]
        let name: String
        var rest: Substring
        if let brace = line.firstIndex(of: "{") {
            name = String(line[..<brace])
            var i = line.index(after: brace)
            while i < line.endIndex, line[i] != "}" {
                guard let eq = line[i...].firstIndex(of: "="), line.index(after: eq) < line.endIndex,
                      line[line.index(after: eq)] == "\"" else { return nil }
                let key = String(line[i..<eq]).trimmingCharacters(in: CharacterSet(charactersIn: ", "))
                var j = line.index(eq, offsetBy: 2)
                var value = ""
                while j < line.endIndex, line[j] != "\"" {
                    if line[j] == "\\", line.index(after: j) < line.endIndex {
                        j = line.index(after: j)
                        value.append(line[j] == "n" ? "\n" : line[j])
                    } else {
                        value.append(line[j])
                    }
                    j = line.index(after: j)
                }
                labels[key] = value
                i = j < line.endIndex ? line.index(after: j) : j
                if i < line.endIndex, line[i] == "," { i = line.index(after: i) }
            }
            guard i < line.endIndex else { return nil }
            rest = line[line.index(after: i)...]
        } else {
            guard let space = line.firstIndex(of: " ") else { return nil }
            name = String(line[..<space])
            rest = line[space...]
        }
        let fields = rest.split(separator: " ")
        guard let first = fields.first else { return nil }
        let value: Double? = first == "+Inf" ? .infinity : first == "-Inf" ? -.infinity : Double(first)
        return value.map { PrometheusSample(name: name, labels: labels, value: $0) }
    }

    /// Samples of `name` whose labels include `labels`.
    public func series(_ name: String, _ labels: [String: String] = [:]) -> [PrometheusSample] {
        samples.filter { s in s.name == name && labels.allSatisfy { s.labels[$0.key] == $0.value } }
    }

    /// The one sample of `name` with `labels` (nil: none, or more than one).
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let found = series(name, labels)
        return found.count == 1 ? found[0].value : nil
    }

    /// The sum over every sample of `name` with `labels` (0 when there is none).
    public func sum(_ name: String, _ labels: [String: String] = [:]) -> Double { series(name, labels).reduce(0) { $0 + $1.value } }
}
