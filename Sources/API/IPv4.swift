// IPv4 addresses and CIDR blocks as plain integers (service ranges, pod CIDRs, routes).

public struct IPv4CIDR: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var network: UInt32
    public var prefix: Int

    /// "10.244.0.0/16"; the address is masked to its network.
    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let ip = IPv4CIDR.parse(String(parts[0])), let p = Int(parts[1]), (0...32).contains(p) else { return nil }
        prefix = p
        network = ip & IPv4CIDR.mask(p)
    }

    public init(network: UInt32, prefix: Int) { self.network = network & IPv4CIDR.mask(prefix); self.prefix = prefix }

    public static func mask(_ prefix: Int) -> UInt32 { prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix) }
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefix) }
    public func contains(_ ip: UInt32) -> Bool { ip & IPv4CIDR.mask(prefix) == network }
    public var description: String { IPv4CIDR.format(network) + "/\(prefix)" }

    /// The i-th block of `prefix` bits inside this one (nil past the end).
    public func subnet(_ i: Int, prefix sub: Int) -> IPv4CIDR? {
        guard sub >= prefix, sub <= 32, i >= 0, UInt64(i) < (UInt64(1) << UInt64(sub - prefix)) else { return nil }
        return IPv4CIDR(network: network + UInt32(i) << UInt32(32 - sub), prefix: sub)
    }

    public static func parse(_ s: String) -> UInt32? {
        let octets = s.split(separator: ".", omittingEmptySubsequences: false).map { UInt32($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 != nil && $0! < 256 }) else { return nil }
        return octets.reduce(0) { $0 << 8 | $1! }
    }

    public static func format(_ ip: UInt32) -> String { "\(ip >> 24).\(ip >> 16 & 0xff).\(ip >> 8 & 0xff).\(ip & 0xff)" }
}
