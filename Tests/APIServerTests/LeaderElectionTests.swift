// Two `skiff scheduler`s against one master: one leads (holds the kube-scheduler Lease), the
// other waits; when the leader stops, the other takes over within the lease duration.
import API
import Client
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct LeaderElectionTests {
    func scheduler(_ m: MasterProcess, log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exec \"$0\" scheduler --server \(m.url) --leader-elect-lease-duration 3s 2>>\(log)", TestEnv.binDir + "/skiff"]
        try p.run()
        return p
    }

    func holder(_ api: APIClient) -> String? {
        guard let r = try? api.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler"), r.code == 200 else { return nil }
        return (try? r.json())?.value(at: "spec.holderIdentity")?.stringValue
    }

    @Test func oneSchedulerLeadsAndAnotherTakesOver() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let dir = try TestEnv.makeTempDir("skiff-election")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let api = try APIClient(server: m.url)
        let a = try scheduler(m, log: dir + "/a.log")
        defer { kill(a.processIdentifier, SIGKILL); a.waitUntilExit() }
        var first: String?
        for _ in 0..<100 where first == nil { first = holder(api); if first == nil { usleep(100_000) } }
        let b = try scheduler(m, log: dir + "/b.log")
        defer { kill(b.processIdentifier, SIGKILL); b.waitUntilExit() }
        Thread.sleep(forTimeInterval: 2)
        #expect(first != nil && holder(api) == first, "the first scheduler keeps the lease")
        let bLog = (try? String(contentsOfFile: dir + "/b.log", encoding: .utf8)) ?? ""
        #expect(bLog.contains("waiting to lead") && !bLog.contains("leading kube-scheduler"), "\(bLog)")
        kill(a.processIdentifier, SIGKILL)
        a.waitUntilExit()
        var next: String?
        for _ in 0..<100 {
            next = holder(api)
            if let next, next != first { break }
            usleep(100_000)
        }
        #expect(next != nil && next != first, "the lease moved to the second scheduler")
        let after = (try? String(contentsOfFile: dir + "/b.log", encoding: .utf8)) ?? ""
        #expect(after.contains("leading kube-scheduler"), "\(after)")
    }
}
