// Prometheus /metrics: request counts by verb, resource and code, latency histograms by verb
// and resource, open watches, and process memory — the series operators alert on first.
import Foundation
import Synchronization

final class Metrics: Sendable {
    struct RequestKey: Hashable { var verb: String; var resource: String; var code: Int }
    struct LatencyKey: Hashable { var verb: String; var resource: String }

    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private struct State {
        var requests: [RequestKey: Int] = [:]
        var latency: [LatencyKey: (counts: [Int], sum: Double, count: Int)] = [:]
    }
    private let state = Mutex(State())
    let watches = Atomic<Int>(0)

    func record(verb: String, resource: String, code: Int, seconds: Double) {
        state.withLock { s in
            s.requests[RequestKey(verb: verb, resource: resource, code: code), default: 0] += 1
            let key = LatencyKey(verb: verb, resource: resource)
            var entry = s.latency[key] ?? (Array(repeating: 0, count: Metrics.buckets.count), 0, 0)
            for (i, b) in Metrics.buckets.enumerated() where seconds <= b { entry.counts[i] += 1 }
            entry.sum += seconds
            entry.count += 1
            s.latency[key] = entry
        }
    }

    func render(storeRevision: Int64) -> String {
        var out = ""
        let snapshot = state.withLock { $0 }
        out += "# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, resource and HTTP response code.\n"
        out += "# TYPE apiserver_request_total counter\n"
        for (k, v) in snapshot.requests.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            out += "apiserver_request_total{verb=\"\(k.verb)\",resource=\"\(k.resource)\",code=\"\(k.code)\"} \(v)\n"
        }
        out += "# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb and resource.\n"
        out += "# TYPE apiserver_request_duration_seconds histogram\n"
        for (k, v) in snapshot.latency.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            let labels = "verb=\"\(k.verb)\",resource=\"\(k.resource)\""
            for (i, b) in Metrics.buckets.enumerated() {
                out += "apiserver_request_duration_seconds_bucket{\(labels),le=\"\(b)\"} \(v.counts[i])\n"
            }
            out += "apiserver_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(v.count)\n"
            out += "apiserver_request_duration_seconds_sum{\(labels)} \(v.sum)\n"
            out += "apiserver_request_duration_seconds_count{\(labels)} \(v.count)\n"
        }
        out += "# HELP apiserver_longrunning_requests Number of open watch requests.\n# TYPE apiserver_longrunning_requests gauge\n"
        out += "apiserver_longrunning_requests{verb=\"WATCH\"} \(watches.load(ordering: .relaxed))\n"
        out += "# HELP skiff_store_revision The store's current revision.\n# TYPE skiff_store_revision gauge\n"
        out += "skiff_store_revision \(storeRevision)\n"
        out += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n"
        out += "process_resident_memory_bytes \(Metrics.residentBytes())\n"
        return out
    }

    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
