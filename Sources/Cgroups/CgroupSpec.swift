// What a cgroup is limited to, read back from its files (cAdvisor's container_spec_* series):
// the memory limit, the CFS quota and period, and the cpu shares (v2's weight converted back).
#if canImport(Glibc)
import Glibc
#endif

public struct CgroupSpec: Equatable, Sendable {
    /// nil: unlimited.
    public var memoryLimitBytes: Int64?
    /// nil: no quota.
    public var cpuQuotaMicros: Int64?
    public var cpuPeriodMicros: Int64?
    public var cpuShares: Int64?
}

extension Cgroup {
    public func spec() -> CgroupSpec {
        var spec = CgroupSpec()
        func read(_ file: String) -> String? { (try? fs.read(file))?.trimmed }
        if let d = dir(.memory) {
            let text = read(d + (isV2(.memory) ? "/memory.max" : "/memory.limit_in_bytes"))
            // v1 writes "unlimited" as a page-rounded 2^63-1.
            if let text, let bytes = Int64(text), bytes < 1 << 62 { spec.memoryLimitBytes = bytes }
        }
        if let d = dir(.cpu) {
            if isV2(.cpu) {
                let parts = (read(d + "/cpu.max") ?? "").split(separator: " ")
                if parts.count == 2 { spec.cpuQuotaMicros = Int64(parts[0]); spec.cpuPeriodMicros = Int64(parts[1]) }
                // cAdvisor's inverse of the shares → weight mapping.
                if let weight = read(d + "/cpu.weight").flatMap({ Int64($0) }) { spec.cpuShares = 2 + ((weight - 1) * 262_142) / 9999 }
            } else {
                if let quota = read(d + "/cpu.cfs_quota_us").flatMap({ Int64($0) }), quota > 0 { spec.cpuQuotaMicros = quota }
                spec.cpuPeriodMicros = read(d + "/cpu.cfs_period_us").flatMap { Int64($0) }
                spec.cpuShares = read(d + "/cpu.shares").flatMap { Int64($0) }
            }
        }
        return spec
    }
}
