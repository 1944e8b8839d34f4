// `skiff up` brings master, node and proxy up in one process: the examples apply and their
// Service answers on its cluster IP, from each of the three replicas. With --tls (as off
// loopback) the kubeconfig it writes is the admin one and logs come through the node server's TLS.
import API
import Client
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs the whole cluster"))
struct UpRootTests {
    @Test(arguments: [false, true])
    func upRunsTheExamples(tls: Bool) throws {
        let up = try SkiffUp(name: "skiff-up", tls: tls, proxy: true)
        defer { up.stop() }
        let dir = up.dir
        func k(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) { try up.k(args) }
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/examples"
        let applied = try k("apply", "-f", examples)
        #expect(applied.status == 0, "\(applied.stderr)")
        let rolled = try k("rollout", "status", "deployment/web", "--timeout=90s")
        #expect(rolled.status == 0, "\(rolled)")
        let ip = try k("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}").stdout
        var answers = Set<String>()
        // Up to 30 s: a proxy another test starts in the other mode clears this one's rules until its
        // canary (every 10 s) rewrites them.
        let deadline = Date().addingTimeInterval(30)
        while answers.count < 3 && Date() < deadline {
            let r = try TestEnv.capture(["/bin/busybox", "wget", "-qO-", "http://\(ip)/"])
            if r.status == 0 { answers.insert(r.stdout) } else { usleep(100_000) }
        }
        if tls {
            #expect((try FileManager.default.attributesOfItem(atPath: dir + "/kubeconfig")[.posixPermissions] as? Int) == 0o600)
            let logs = try k("exec", "deployment/web", "--", "cat", "/www/index.html")
            #expect(logs.status == 0 && logs.stdout.hasPrefix("hello from web-"), "\(logs)")
        }
        #expect(answers.count == 3, "all three replicas answer behind the service: \(answers) \(ip) \((try? k("get", "endpoints", "-o", "wide").stdout) ?? "") \(up.log)")
    }
}
