// Resource quantities ("500m", "64Mi", "1.5", "1e3") parsed and printed as Kubernetes does
// (k8s.io/apimachinery/pkg/api/resource): exact decimal values, canonical output.

public struct Quantity: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public enum Format: Sendable, Hashable { case decimalSI, binarySI, decimalExponent }

    /// value = mantissa × 10^exponent, normalised so the mantissa has no trailing zeros.
    public let mantissa: Int64
    public let exponent: Int
    public let format: Format

    public init(parsing text: String) throws {
        let bad = { (why: String) in QuantityError(text: text, reason: why) }
        var b = Array(text.utf8)
        guard !b.isEmpty else { throw bad("empty quantity") }
        var negative = false
        if b[0] == UInt8(ascii: "+") || b[0] == UInt8(ascii: "-") { negative = b[0] == UInt8(ascii: "-"); b.removeFirst() }
        var i = 0
        var digits: [UInt8] = []
        var fractionDigits = 0
        var seenDot = false
        while i < b.count, (b[i] >= 48 && b[i] <= 57) || (b[i] == 46 && !seenDot) {
            if b[i] == 46 { seenDot = true } else { digits.append(b[i] - 48); if seenDot { fractionDigits += 1 } }
            i += 1
        }
        guard !digits.isEmpty else { throw bad("expected a number") }
        let suffix = String(decoding: b[i...], as: UTF8.self)
        var exp10 = -fractionDigits
        var binaryPower = 0
        let format: Format
        switch suffix {
        case "Ki", "Mi", "Gi", "Ti", "Pi", "Ei":
            format = .binarySI
            binaryPower = 10 * (["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].firstIndex(of: suffix)! + 1)
        case "n": format = .decimalSI; exp10 -= 9
        case "u": format = .decimalSI; exp10 -= 6
        case "m": format = .decimalSI; exp10 -= 3
        case "": format = .decimalSI
        case "k": format = .decimalSI; exp10 += 3
        case "M": format = .decimalSI; exp10 += 6
        case "G": format = .decimalSI; exp10 += 9
        case "T": format = .decimalSI; exp10 += 12
        case "P": format = .decimalSI; exp10 += 15
        case "E": format = .decimalSI; exp10 += 18
        default:
            guard let first = suffix.first, first == "e" || first == "E", let e = Int(suffix.dropFirst()), abs(e) <= 100 else {
                throw bad("unknown suffix \"\(suffix)\" (use n, u, m, k, M, G, T, P, E, Ki…Ei or an exponent like e3)")
            }
            format = .decimalExponent
            exp10 += e
        }
        // Drop leading zeros; trailing zeros move into the exponent.
        while digits.count > 1 && digits[0] == 0 { digits.removeFirst() }
        while digits.count > 1 && digits.last == 0 { digits.removeLast(); exp10 += 1 }
        guard digits.count <= 18 else { throw bad("too many significant digits") }
        var m = digits.reduce(Int64(0)) { $0 * 10 + Int64($1) }
        // Binary suffixes: fold 2^n into the mantissa exactly.
        for _ in 0..<binaryPower {
            let (doubled, overflow) = m.multipliedReportingOverflow(by: 2)
            guard !overflow else { throw bad("too large") }
            m = doubled
        }
        if m == 0 { exp10 = 0 }
        while m != 0 && m % 10 == 0 { m /= 10; exp10 += 1 }
        mantissa = negative ? -m : m
        exponent = exp10
        self.format = format
    }

    /// value × 10^scale, as resource.NewScaledQuantity makes it: (123456, -9) is "123456n" of cpu,
    /// (52428800, 0, .binarySI) is "50Mi" of memory.
    public init(_ value: Int64, scale: Int = 0, format: Format = .decimalSI) {
        var m = value
        var e = scale
        if m == 0 { e = 0 }
        while m != 0 && m % 10 == 0 { m /= 10; e += 1 }
        mantissa = m
        exponent = e
        self.format = format
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { try self.init(parsing: s); return }
        if let i = try? c.decode(Int64.self) { try self.init(parsing: String(i)); return }
        let d = try c.decode(Double.self)
        try self.init(parsing: "\(d)")
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// The canonical form Kubernetes prints.
    public var description: String {
        if mantissa == 0 { return "0" }
        if format == .binarySI, exponent >= 0, let value = integerValue, value <= -1024 || value >= 1024 {
            var n = value
            var k = 0
            while k < 6 && n % 1024 == 0 { n /= 1024; k += 1 }
            return "\(n)" + ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k]
        }
        // Decimal: an exponent that is a multiple of 3, rounded down, with an integer in front.
        var e3 = exponent >= 0 ? (exponent / 3) * 3 : -(((-exponent) + 2) / 3) * 3
        var m = mantissa
        if e3 < -9 {
            // Below a nano: round up (away from zero) to whole nanos, as Kubernetes does.
            var scale: Int64 = 1
            for _ in 0..<(-9 - exponent) { scale *= 10 }
            m = mantissa / scale + (mantissa % scale == 0 ? 0 : (mantissa > 0 ? 1 : -1))
            e3 = -9
            return "\(m)n"
        }
        for _ in 0..<(exponent - e3) { m *= 10 }
        if format == .decimalExponent { return e3 == 0 ? "\(m)" : "\(m)e\(e3)" }
        let suffixes = [-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"]
        if let s = suffixes[e3] { return "\(m)\(s)" }
        return "\(m)e\(e3)"
    }

    /// The exact integer value when there is one that fits.
    public var integerValue: Int64? {
        guard exponent >= 0 else { return nil }
        var v = mantissa
        for _ in 0..<exponent {
            let (r, o) = v.multipliedReportingOverflow(by: 10)
            if o { return nil }
            v = r
        }
        return v
    }

    /// Value rounded up to an integer (bytes for memory), as Quantity.Value() does.
    public var value: Int64 { scaled(by: 0) }

    /// Thousandths rounded up (millicores for cpu), as Quantity.MilliValue() does.
    public var milliValue: Int64 { scaled(by: 3) }

    private func scaled(by digits: Int) -> Int64 {
        let e = exponent + digits
        if e >= 0 {
            var v = mantissa
            for _ in 0..<e {
                let (r, o) = v.multipliedReportingOverflow(by: 10)
                if o { return mantissa > 0 ? .max : .min }
                v = r
            }
            return v
        }
        guard -e <= 18 else { return mantissa > 0 ? 1 : 0 }
        var scale: Int64 = 1
        for _ in 0..<(-e) { scale *= 10 }
        return mantissa / scale + (mantissa % scale > 0 ? 1 : 0)
    }

    public static func < (a: Quantity, b: Quantity) -> Bool { compare(a, b) < 0 }
    public static func == (a: Quantity, b: Quantity) -> Bool { compare(a, b) == 0 }
    public func hash(into h: inout Hasher) { h.combine(mantissa); h.combine(exponent) }

    static func compare(_ a: Quantity, _ b: Quantity) -> Int {
        if (a.mantissa < 0) != (b.mantissa < 0) || a.mantissa == 0 || b.mantissa == 0 {
            return a.mantissa < b.mantissa ? -1 : (a.mantissa > b.mantissa ? 1 : 0)
        }
        // Same sign, both non-zero: align exponents in 128 bits.
        let low = min(a.exponent, b.exponent)
        guard max(a.exponent, b.exponent) - low <= 30 else {
            let aBigger = a.exponent > b.exponent
            return (aBigger == (a.mantissa > 0)) ? 1 : -1
        }
        var x = Int128(a.mantissa), y = Int128(b.mantissa)
        for _ in 0..<(a.exponent - low) { x *= 10 }
        for _ in 0..<(b.exponent - low) { y *= 10 }
        return x < y ? -1 : (x > y ? 1 : 0)
    }
}

// MARK: - arithmetic (quota sums, pod totals)

extension Quantity {
    public static let zero = Quantity(0)

    public var isZero: Bool { mantissa == 0 }
    public var isNegative: Bool { mantissa < 0 }

    /// The exact sum. The result keeps this value's format unless it is zero (then the other's),
    /// as resource.Quantity.Add does, so "0" + "64Mi" prints "64Mi".
    public func adding(_ other: Quantity) -> Quantity {
        let format = isZero ? other.format : self.format
        if other.isZero { return Quantity(mantissa, scale: exponent, format: format) }
        if isZero { return Quantity(other.mantissa, scale: other.exponent, format: format) }
        let low = min(exponent, other.exponent)
        // Past 18 digits apart the smaller value is below the larger one's precision.
        if exponent - low > 18 { return Quantity(mantissa, scale: exponent, format: format) }
        if other.exponent - low > 18 { return Quantity(other.mantissa, scale: other.exponent, format: format) }
        var x = Int128(mantissa), y = Int128(other.mantissa)
        for _ in 0..<(exponent - low) { x *= 10 }
        for _ in 0..<(other.exponent - low) { y *= 10 }
        var sum = x + y, e = low
        while sum != 0 && sum % 10 == 0 { sum /= 10; e += 1 }
        // Too many digits for the mantissa: round the lowest away (up in magnitude), as quota rounds up.
        while sum > Int128(999_999_999_999_999_999) || sum < Int128(-999_999_999_999_999_999) {
            sum = sum > 0 ? (sum + 9) / 10 : (sum - 9) / 10
            e += 1
        }
        return Quantity(Int64(sum), scale: e, format: format)
    }

    public func subtracting(_ other: Quantity) -> Quantity { adding(other.negated) }

    public var negated: Quantity { Quantity(-mantissa, scale: exponent, format: format) }

    /// Rounded up to a whole number (a claim's storage counts in whole bytes).
    public var roundedUp: Quantity {
        guard exponent < 0 else { return self }
        return Quantity(value, scale: 0, format: format)
    }
}

extension JSONValue {
    /// A map of quantities as written: strings, and numbers (YAML's `pods: 10`) as their decimal text.
    public var quantityMap: [String: String]? {
        guard let o = objectValue else { return nil }
        var out: [String: String] = [:]
        for (k, v) in o {
            guard let text = v.quantityText else { return nil }
            out[k] = text
        }
        return out
    }

    /// One quantity as written: a string, or a number (YAML's `value: 10`) as its decimal text.
    public var quantityText: String? {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d) where d.isFinite: return d == d.rounded() && abs(d) < 9e15 ? String(Int64(d)) : String(d)
        default: return nil
        }
    }
}

public struct QuantityError: Error, CustomStringConvertible, Sendable {
    public let text: String
    public let reason: String
    public var description: String { "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': \"\(text)\": \(reason)" }
}
