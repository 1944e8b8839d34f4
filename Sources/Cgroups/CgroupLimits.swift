// Resource limits and their pure conversions to cgroup v1/v2 values.

public struct CgroupLimits: Equatable, Sendable {
    public var memoryBytes: Int64?
    /// CPU time per period, µs (e.g. 50_000 of 100_000 = half a CPU).
    public var cpuQuotaMicros: Int64?
    public var cpuPeriodMicros: Int64 = 100_000
    /// Relative CPU weight in v1 shares (2...262144); converted for v2.
    public var cpuShares: UInt64?
    public var pidsMax: Int64?

    public init(memoryBytes: Int64? = nil, cpuQuotaMicros: Int64? = nil, cpuShares: UInt64? = nil, pidsMax: Int64? = nil) {
        self.memoryBytes = memoryBytes
        self.cpuQuotaMicros = cpuQuotaMicros
        self.cpuShares = cpuShares
        self.pidsMax = pidsMax
    }
}

public enum CgroupConversions {
    /// v1 cpu.shares → v2 cpu.weight, exactly as runc and the kubelet convert:
    /// [2, 262144] maps linearly onto [1, 10000].
    public static func weight(fromShares shares: UInt64) -> UInt64 {
        let s = min(max(shares, 2), 262_144)
        return 1 + ((s - 2) * 9999) / 262_142
    }

    /// Kubernetes millicores → CFS quota for a period (the kubelet's milliCPUToQuota; min 1 ms).
    public static func quota(milliCPU: Int64, periodMicros: Int64 = 100_000) -> Int64 {
        max(milliCPU * periodMicros / 1000, 1000)
    }

    /// Kubernetes millicores → v1 shares (the kubelet's MilliCPUToShares; min 2).
    public static func shares(milliCPU: Int64) -> UInt64 {
        max(UInt64(max(milliCPU, 0)) * 1024 / 1000, 2)
    }
}
