// The process_* series client_golang adds to every Kubernetes component: resident memory (read
// at each scrape) and the process's start time.
import CoreMetrics
import Foundation

public enum ProcessMetrics {
    /// Records process_resident_memory_bytes and process_start_time_seconds in `registry`.
    public static func register(in registry: MetricsRegistry) {
        let resident = Meter(label: "process_resident_memory_bytes", dimensions: [], factory: registry.factory)
        let started = Meter(label: "process_start_time_seconds", dimensions: [], factory: registry.factory)
        started.set(startTime() ?? Date().timeIntervalSince1970)
        registry.onScrape { resident.set(residentBytes()) }
    }

    /// Resident set size from /proc/self/statm (pages × page size).
    public static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Boot time (/proc/stat btime) plus the process's start in clock ticks since boot (/proc/self/stat field 22).
    static func startTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command (which may hold spaces): state is field 3, starttime field 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]),
              let system = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = system.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
              let boot = Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) else { return nil }
        return boot + ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
