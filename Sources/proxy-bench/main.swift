// proxy-bench NAMESPACE [SERVICES] [ENDPOINTS]: the proxy's full and one-service syncs for a large
// cluster, applied with iptables-restore inside the given network namespace (hack/bench/proxy.sh).
import Foundation
import Proxy

let args = CommandLine.arguments
guard args.count > 1 else { print("usage: proxy-bench NAMESPACE [SERVICES] [ENDPOINTS]"); exit(2) }
IPTables.namespace = args[1]
if let v = ProcessInfo.processInfo.environment["SKIFF_IPTABLES"] { IPTables.variant = "-" + v }
let count = args.count > 2 ? Int(args[2]) ?? 10000 : 10000
let perService = args.count > 3 ? Int(args[3]) ?? 3 : 3

func service(_ i: Int, shift: Int = 0) -> ServicePort {
    ServicePort(namespace: "ns\(i % 100)", service: "svc\(i)", portName: "http", clusterIP: "10.96.\(i / 250).\(i % 250 + 1)", port: 80,
                nodePort: i % 10 == 0 ? 30000 + i / 10 : nil,
                endpoints: (0..<perService).map { .init(ip: "10.244.\((i + $0 + shift) % 250).\((i * 7 + $0) % 250 + 1)", port: 8080) })
}

let proxier = Proxier(options: ProxyOptions(server: "http://127.0.0.1:1")) { print($0) }
var services = (0..<count).map { service($0) }
let t0 = Date()
let rules = ProxyRules.render(services, clusterCIDR: "10.244.0.0/16")
let rendered = Date().timeIntervalSince(t0)
guard proxier.apply(rules) else { print("full sync failed"); exit(1) }
let full = Date().timeIntervalSince(t0)
print("full sync: \(count) services x \(perService) endpoints: render \(Int(rendered * 1000)) ms, render+apply \(Int(full * 1000)) ms, \(proxier.lastSync.bytes / 1024) KiB")
var partials: [Double] = []
for round in 1...5 {
    services[count / 2] = service(count / 2, shift: round)
    let t1 = Date()
    guard proxier.apply(ProxyRules.render(services, clusterCIDR: "10.244.0.0/16")) else { print("partial sync failed"); exit(1) }
    partials.append(Date().timeIntervalSince(t1))
}
partials.sort()
print("one service changed: render+apply median \(String(format: "%.1f", partials[2] * 1000)) ms (of 5; \(proxier.lastSync.bytes) bytes written)")
