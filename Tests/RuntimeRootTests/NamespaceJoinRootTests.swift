// Joining existing namespaces: what pod containers do with their sandbox's net/ipc/uts.
import Foundation
import Testing
import TestSupport
@testable import Runtime

extension SpawnRootTests {
    @Test func joinsANamedNetworkNamespace() throws {
        defer { cleanup() }
        let ns = TestEnv.uniqueName("sk")
        #expect(try TestEnv.run(["/sbin/ip", "netns", "add", ns]) == 0)
        defer { _ = try? TestEnv.run(["/sbin/ip", "netns", "del", ns]) }
        // A veth pair with both ends inside the namespace (this kernel has no dummy links).
        #expect(try TestEnv.run(["/sbin/ip", "-n", ns, "link", "add", "skv0", "type", "veth", "peer", "name", "skv1"]) == 0)
        var c = config(["sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"])
        c.namespaces = c.namespaces.map { $0.type == "net" ? .init(type: "net", path: "/run/netns/" + ns) : $0 }
        let r = try run(c)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.split(separator: "\n").sorted() == ["lo", "skv0", "skv1"])
    }

    @Test func joinsAnotherContainersUtsAndIpcNamespaces() throws {
        defer { cleanup() }
        // The "sandbox": a detached container with its own hostname.
        var sandbox = config(["sleep", "30"])
        sandbox.hostname = "pod-sandbox"
        sandbox.pidFile = dir + "/sandbox.pid"
        sandbox.exitFile = dir + "/sandbox-exit.json"
        let file = dir + "/sandbox.spawn"
        try sandbox.write(to: file)
        let pid = try MonitorLauncher.startDetached(monitor: monitor, spawnFile: file)
        defer {
            // Stop the sandbox and let its monitor write its exit record before the dir goes.
            kill(pid, SIGKILL)
            for _ in 0..<200 where !FileManager.default.fileExists(atPath: dir + "/sandbox-exit.json") { usleep(10_000) }
        }
        var member = config(["hostname"])
        member.hostname = nil
        member.namespaces = member.namespaces.map {
            ["uts", "ipc", "net"].contains($0.type) ? .init(type: $0.type, path: "/proc/\(pid)/ns/\($0.type)") : $0
        }
        let r = try run(member)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "pod-sandbox\n")
    }

    @Test func joiningAMissingNamespaceIsAClearError() throws {
        defer { cleanup() }
        var c = config(["true"])
        c.namespaces = c.namespaces.map { $0.type == "net" ? .init(type: "net", path: "/run/netns/does-not-exist") : $0 }
        let r = try run(c)
        #expect(r.status == 125)
        #expect(r.stderr.contains("setns") && r.stderr.contains("/run/netns/does-not-exist"), "\(r.stderr)")
    }
}
