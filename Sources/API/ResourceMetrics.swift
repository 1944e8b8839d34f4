// What the resource metrics API's objects mean in numbers: Go durations for `window`, and a pod's
// usage summed over its containers (what the HPA adds up).

/// Go's time.Duration text ("15.012s", "1m0.5s", "250ms"), as metav1.Duration writes it.
public enum GoDuration {
    public static func format(nanoseconds ns: Int64) -> String {
        if ns == 0 { return "0s" }
        let sign = ns < 0 ? "-" : ""
        let n = ns.magnitude
        if n < 1_000 { return sign + "\(n)ns" }
        if n < 1_000_000 { return sign + fraction(n, 1_000) + "µs" }
        if n < 1_000_000_000 { return sign + fraction(n, 1_000_000) + "ms" }
        let hours = n / 3_600_000_000_000
        let minutes = n / 60_000_000_000 % 60
        let seconds = fraction(n % 60_000_000_000, 1_000_000_000) + "s"
        if hours > 0 { return sign + "\(hours)h\(minutes)m" + seconds }
        if minutes > 0 { return sign + "\(minutes)m" + seconds }
        return sign + seconds
    }

    /// `value / unit` with the remainder as decimals, trailing zeros dropped ("1.5", "12").
    static func fraction(_ value: UInt64, _ unit: UInt64) -> String {
        let whole = value / unit
        var rest = value % unit
        guard rest > 0 else { return "\(whole)" }
        var digits = String(rest)
        var width = String(unit).count - 1
        while rest % 10 == 0 { rest /= 10; digits.removeLast(); width -= 1 }
        return "\(whole)." + String(repeating: "0", count: width - digits.count) + digits
    }

    /// Nanoseconds of a duration in the units Go writes (h, m, s, ms, us/µs, ns); nil if malformed.
    public static func parse(_ text: String) -> Int64? {
        var rest = Substring(text)
        var negative = false
        if rest.first == "-" || rest.first == "+" { negative = rest.first == "-"; rest = rest.dropFirst() }
        if rest == "0" { return 0 }
        guard !rest.isEmpty else { return nil }
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("h", 3.6e12), ("m", 6e10), ("s", 1e9)]
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.0.count)
            total += value * unit.1
        }
        guard total < 9.2e18 else { return nil }
        return Int64(negative ? -total : total)
    }
}

extension PodMetrics {
    /// The pod's use of `resource` ("cpu", "memory") in thousandths, summed over its containers as
    /// the HPA's metrics client sums them (MilliValue); nil when no container reports it.
    public func milliUsage(of resource: String) -> Int64? {
        var sum: Int64?
        for container in containers {
            guard let text = container.usage?[resource], let q = try? Quantity(parsing: text) else { continue }
            sum = (sum ?? 0) &+ q.milliValue
        }
        return sum
    }
}
