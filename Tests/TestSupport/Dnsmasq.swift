// dnsmasq as a real DNS server for tests (an upstream for the cluster DNS): daemonized and
// stopped by the pid it writes, not held as a Foundation Process child (a long-lived child there
// has been seen to leave later waitUntilExit() calls hanging on an unreaped zombie).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class Dnsmasq: @unchecked Sendable {
    public let port: Int
    let dir: String

    /// Serves `hosts` on 127.0.0.1:`port` (a free one when nil), inside `netns` when given;
    /// `extra` adds flags (e.g. `--local=/example/` for NXDOMAIN under a domain).
    public init(hosts: String, port: Int? = nil, netns: String? = nil, extra: [String] = []) throws {
        dir = try TestEnv.makeTempDir("skiff-dnsmasq")
        try hosts.write(toFile: dir + "/hosts", atomically: true, encoding: .utf8)
        self.port = try port ?? TestEnv.freePort()
        let argv = ["/usr/sbin/dnsmasq", "--no-resolv", "--no-hosts", "--addn-hosts=\(dir)/hosts", "--listen-address=127.0.0.1",
                    "--bind-interfaces", "--port=\(self.port)", "--local-ttl=30", "--pid-file=\(dir)/pid", "--user=root",
                    "--conf-file=/dev/null"] + extra
        let launched = try TestEnv.capture(netns.map { ["/usr/bin/nsenter", "--net=/var/run/netns/" + $0] + argv } ?? argv)
        guard launched.status == 0 else { throw TestSupportError("dnsmasq: \(launched.stderr)") }
    }

    public func stop() {
        if let text = try? String(contentsOfFile: dir + "/pid", encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
