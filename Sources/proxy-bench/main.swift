// proxy-bench NAMESPACE [SERVICES] [ENDPOINTS] [MODE]: the proxy's full and one-service syncs for a
// large cluster, applied inside the given network namespace (hack/bench/proxy.sh). MODE: iptables
// (iptables-restore; SKIFF_IPTABLES=legacy|nft picks the variant) or nftables (libnftables).
import Foundation
import Proxy

let args = CommandLine.arguments
guard args.count > 1 else { print("usage: proxy-bench NAMESPACE [SERVICES] [ENDPOINTS] [iptables|nftables]"); exit(2) }
IPTables.namespace = args[1]
if let v = ProcessInfo.processInfo.environment["SKIFF_IPTABLES"] { IPTables.variant = "-" + v }
let count = args.count > 2 ? Int(args[2]) ?? 10000 : 10000
let perService = args.count > 3 ? Int(args[3]) ?? 3 : 3
let mode = ProxyMode(rawValue: args.count > 4 ? args[4] : "iptables") ?? .iptables

func service(_ i: Int, shift: Int = 0) -> ServicePort {
    ServicePort(namespace: "ns\(i % 100)", service: "svc\(i)", portName: "http", clusterIP: "10.96.\(i / 250).\(i % 250 + 1)", port: 80,
                nodePort: i % 10 == 0 ? 30000 + i / 10 : nil,
                endpoints: (0..<perService).map { .init(ip: "10.244.\((i + $0 + shift) % 250).\((i * 7 + $0) % 250 + 1)", port: 8080) })
}

let backend: ProxyBackend
do {
    switch mode {
    case .iptables: backend = IPTablesBackend(clusterCIDR: "10.244.0.0/16") { print($0) }
    case .nftables: backend = try NFTablesBackend(clusterCIDR: "10.244.0.0/16", namespace: args[1]) { print($0) }
    }
} catch { print("proxy-bench: \(error)"); exit(1) }

var services: [String: ServicePort] = [:]
for i in 0..<count { let s = service(i); services[s.key] = s }
let t0 = Date()
guard backend.sync(services, changed: nil) else { print("full sync failed"); exit(1) }
let full = Date().timeIntervalSince(t0)
print("\(mode.rawValue) full sync: \(count) services x \(perService) endpoints: render+apply \(Int(full * 1000)) ms, \(backend.lastSync.bytes / 1024) KiB")
var partials: [Double] = []
for round in 1...9 {
    // One service's endpoints move (as after a rollout step); the sync is told which one.
    let changed = service(count / 2 + round, shift: round)
    services[changed.key] = changed
    let t1 = Date()
    guard backend.sync(services, changed: [changed.key]) else { print("partial sync failed"); exit(1) }
    partials.append(Date().timeIntervalSince(t1))
}
partials.sort()
print("\(mode.rawValue) one service changed: render+apply median \(String(format: "%.2f", partials[4] * 1000)) ms, max \(String(format: "%.2f", partials[8] * 1000)) ms (of 9; \(backend.lastSync.bytes) bytes written)")
