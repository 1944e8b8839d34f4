// Parsing of the resource amounts `skiff run` takes: memory in Kubernetes quantity form
// ("64Mi", "1G", "1048576") and CPUs as a count or millicores ("0.5", "500m").

public enum ResourceQuantity {
    private static let binary: [(String, Int64)] = [
        ("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40), ("Pi", 1 << 50), ("Ei", 1 << 60),
    ]
    private static let decimal: [(String, Int64)] = [
        ("k", 1_000), ("K", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000),
        ("P", 1_000_000_000_000_000), ("E", 1_000_000_000_000_000_000),
    ]

    /// Bytes from a Kubernetes-style quantity. Fractions are allowed when the result is whole
    /// ("1.5Gi"); the result must be positive.
    public static func bytes(_ text: String, flag: String = "--memory") throws -> Int64 {
        let bad = RuntimeError(.invalidArgument,
            "invalid \(flag) \"\(text)\": expected bytes with an optional suffix Ki, Mi, Gi, Ti or k, M, G, T (e.g. 64Mi)")
        var number = Substring(text)
        var multiplier: Int64 = 1
        for (suffix, m) in binary + decimal where text.hasSuffix(suffix) {
            number = text.dropLast(suffix.count)
            multiplier = m
            break
        }
        guard let value = Double(number), value.isFinite, value > 0, !number.hasPrefix("+") else { throw bad }
        let total = value * Double(multiplier)
        guard total < Double(Int64.max), total.rounded() == total else { throw bad }
        return Int64(total)
    }

    /// CPUs in millicores from "0.5", "2", "500m".
    public static func milliCPUs(_ text: String, flag: String = "--cpus") throws -> Int64 {
        let bad = RuntimeError(.invalidArgument,
            "invalid \(flag) \"\(text)\": expected a number of CPUs like 0.5 or millicores like 500m")
        if text.hasSuffix("m") {
            guard let m = Int64(text.dropLast()), m > 0 else { throw bad }
            return m
        }
        guard let v = Double(text), v.isFinite, v > 0, v <= 1_000_000 else { throw bad }
        let m = (v * 1000).rounded()
        guard m >= 1 else { throw bad }
        return Int64(m)
    }
}
