// A StatefulSet on a real cluster (`skiff up`, kubectl 1.33): pods come up in order with stable
// names and hostnames, the headless Service makes `web-0.web.<ns>.svc.cluster.local` resolve in
// the cluster DNS, scale-down goes from the top, and an image update rolls out.
import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs the whole cluster"))
struct StatefulSetRootTests {
    static let manifest = """
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      clusterIP: None
      selector: {app: web}
      ports: [{port: 80, name: http}]
    ---
    apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: web}
    spec:
      serviceName: web
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
          - {name: web, image: "busybox:latest", imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
    """

    @Test func stableNamesHostnamesDNSAndUpdates() throws {
        let up = try SkiffUp(name: "skiff-sts")
        defer { up.stop() }
        func k(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) { try up.k(args) }
        _ = try TestEnv.capture([up.skiff, "image", "import", "--root", up.dir + "/node", try TestEnv.busyboxImageLayout(), "--tag", "busybox:v2"])
        #expect(try up.k(["apply", "-f", "-"], stdin: Self.manifest).status == 0)
        let rolled = try k("rollout", "status", "statefulset/web", "--timeout=90s")
        #expect(rolled.status == 0, "\(rolled) \(up.log)")
        #expect(try k("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}").stdout == "web-0 web-1")
        let hostname = try k("exec", "web-1", "--", "hostname")
        #expect(hostname.stdout == "web-1\n", "\(hostname)")
        let hosts = try k("exec", "web-0", "--", "cat", "/etc/hosts").stdout
        #expect(hosts.contains("web-0.web.default.svc.cluster.local"), "\(hosts)")
        #expect(try k("get", "sts", "web", "--no-headers").stdout.contains("2/2"))

        // The cluster DNS answers the pod's stable name with its IP.
        let ip = try k("get", "pod", "web-0", "-o", "jsonpath={.status.podIP}").stdout
        // "serving cluster DNS for cluster.local on HOST:PORT (udp, tcp)"
        let line = up.log.split(separator: "\n").first { $0.contains("serving cluster DNS") } ?? ""
        let address = line.split(separator: " ").first { $0.contains(":") && $0.contains(".") }?.split(separator: ":").map(String.init) ?? []
        var answer = ""
        #expect(try address.count == 2 && TestEnv.eventually(20) {
            answer = try TestEnv.capture(["/usr/bin/dig", "+short", "@" + address[0], "-p", address[1], "web-0.web.default.svc.cluster.local"]).stdout
            return !ip.isEmpty && answer.trimmingCharacters(in: .whitespacesAndNewlines) == ip
        }, "\(answer) vs \(ip) from \(line)")

        // An image update rolls from the top; rollout status waits for it.
        #expect(try k("set", "image", "sts/web", "web=busybox:v2").status == 0)
        let updated = try k("rollout", "status", "statefulset/web", "--timeout=120s")
        #expect(updated.status == 0, "\(updated) \(up.log)")
        #expect(try k("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.containers[0].image}").stdout == "busybox:v2 busybox:v2")

        // Scale down removes web-1, keeps web-0.
        #expect(try k("scale", "sts/web", "--replicas=1").status == 0)
        #expect(try TestEnv.eventually(40) { try k("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}").stdout == "web-0" })
        #expect(try k("delete", "sts", "web").status == 0)
        #expect(try TestEnv.eventually(30) { try k("get", "pods", "-l", "app=web", "-o", "name").stdout.isEmpty })
    }
}
