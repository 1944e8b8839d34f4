// Facts about this host for the Node object, and the timestamp formats the API uses.
import API
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum NodeInfo {
    static var arch: String {
        #if arch(x86_64)
        return "amd64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return "unknown"
        #endif
    }

    static func read(_ path: String) -> String {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    static func memoryKiB() -> Int64 {
        for line in read("/proc/meminfo").split(separator: "\n") where line.hasPrefix("MemTotal:") {
            return Int64(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    static func diskKiB(_ path: String) -> Int64 {
        var s = statvfs()
        guard statvfs(path, &s) == 0 || statvfs("/", &s) == 0 else { return 0 }
        return Int64(s.f_blocks) * Int64(s.f_frsize) / 1024
    }

    static func kernel() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func osImage() -> String {
        for line in read("/etc/os-release").split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            return String(line.dropFirst("PRETTY_NAME=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return "Linux"
    }

    static func machineID() -> String { read("/etc/machine-id") }
    static func bootID() -> String { read("/proc/sys/kernel/random/boot_id") }

    /// The node's IP (`--node-ip`), set once at start before any thread runs.
    nonisolated(unsafe) static var configuredIP: String?
    static let detectedIP = detectHostIP()

    /// The node's address for its status, pods' hostIP and the node server.
    static func hostIP() -> String { configuredIP ?? detectedIP }

    /// The first non-loopback IPv4 address, else 127.0.0.1.
    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    static func detectHostIP() -> String {
        var addrs: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&addrs) == 0, let first = addrs else { return "127.0.0.1" }
        defer { freeifaddrs(addrs) }
        var p: UnsafeMutablePointer<ifaddrs>? = first
        while let a = p {
            if let sa = a.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET),
               (Int32(a.pointee.ifa_flags) & Int32(IFF_LOOPBACK)) == 0 {
                var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                if getnameinfo(sa, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                    return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
            }
            p = a.pointee.ifa_next
        }
        return "127.0.0.1"
    }
}

enum Timestamps {
    static func now() -> String { KubeTime.format() }
    /// MicroTime (Lease renewTime): "2026-11-25T12:00:00.000000Z".
    static func nowMicro() -> String { KubeTime.format(fractionDigits: 6) }
    /// Nanosecond RFC 3339, as the monitor writes CRI log timestamps (so they compare as strings).
    static func rfc3339Nano(_ d: Date) -> String { KubeTime.format(d, fractionDigits: 9) }
    /// Second-precision RFC 3339 from the runtime's timestamps (which carry nanoseconds).
    static func rfc3339(_ s: String) -> String { s.count >= 19 ? String(s.prefix(19)) + "Z" : s }
    static func parse(_ s: String) -> Date? { KubeTime.parse(s) }
}
