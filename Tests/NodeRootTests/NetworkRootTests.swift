// Pod networking through real CNI plugins (bridge, host-local, portmap; `lo` comes up in the runtime's shim): pods get
// addresses from their node's podCIDR, reach each other and are reached from the host; their
// Endpoints carry the pod IPs; deleting pods — also pods whose agent was down — releases the
// address, the veth and the plugin's rules.
import API
import Client
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension Cluster {
    func podIP(_ name: String) throws -> String? { try pod(name)?.value(at: "status.podIP")?.stringValue }
    var ipamDir: String { dir + "/node/cni/ipam/skiff" }
    func allocatedIPs() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: ipamDir)) ?? []).filter { $0.split(separator: ".").count == 4 }
    }
    func natRules(for uid: String) -> Int {
        ((try? TestEnv.capture(["/usr/sbin/iptables-save", "-t", "nat"]).stdout) ?? "").split(separator: "\n").filter { $0.contains(uid) }.count
    }
}

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct NetworkRootTests {
    @Test func podsGetAddressesReachEachOtherAndReleaseThem() throws {
        let c = try Cluster()
        defer { c.stop() }
        #expect(try c.eventually { (try? c.api.get("/api/v1/nodes/\(c.nodeName)").json())?.value(at: "spec.podCIDR") != nil })
        let cidr = try c.api.get("/api/v1/nodes/\(c.nodeName)").json().value(at: "spec.podCIDR")?.stringValue ?? ""
        #expect(cidr.hasPrefix("10.") && cidr.hasSuffix(".0/24"), "\(cidr)")
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: web, labels: {app: web}}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          containers: [{name: c, image: "busybox:test", ports: [{name: http, containerPort: 8080}], command: [sh, -c, "mkdir /www; echo served-by-web > /www/index.html; httpd -f -p 8080 -h /www"]}]
        """)
        try c.createPod(podYAML("client", node: c.nodeName, command: "sleep 1000"))
        #expect(try c.eventually { try c.podIP("web") != nil && c.podIP("client") != nil })
        let webIP = try c.podIP("web") ?? "", clientIP = try c.podIP("client") ?? ""
        let prefix = String(cidr.split(separator: ".").prefix(3).joined(separator: "."))
        #expect(webIP.hasPrefix(prefix + ".") && clientIP.hasPrefix(prefix + ".") && webIP != clientIP, "\(webIP) \(clientIP) in \(cidr)")
        // Pod to pod, and host to pod.
        var fetched: (status: Int32, out: String, err: String) = (0, "", "")
        _ = try c.eventually(10) { fetched = try c.kubectl(["exec", "client", "--", "wget", "-qO-", "http://\(webIP):8080/"]); return fetched.out.contains("served") }
        #expect(fetched.out == "served-by-web\n", "\(fetched) \((try? TestEnv.capture(["/usr/sbin/ip", "route"]).stdout) ?? "")")
        // (busybox wget's -T crashes in this static build: no timeouts flags here.)
        let fromHost = try TestEnv.capture(["/bin/busybox", "wget", "-qO-", "http://\(webIP):8080/"])
        #expect(fromHost.stdout.contains("served-by-web"), "\(fromHost)")
        // The pod's own address inside it, and its Endpoints.
        #expect(try c.kubectl(["exec", "client", "--", "sh", "-c", "ip -4 -o addr show eth0"]).out.contains(clientIP + "/24"))
        // Loopback is up without a CNI plugin (the shim's): a pod reaches a server on 127.0.0.1.
        let local = try c.kubectl(["exec", "web", "--", "wget", "-qO-", "http://127.0.0.1:8080/"])
        #expect(local.out == "served-by-web\n", "\(local)")
        try c.create("/api/v1/namespaces/default/services", """
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec: {selector: {app: web}, ports: [{port: 80, targetPort: http}]}
        """)
        #expect(try c.eventually(15) {
            (try? c.api.get("/api/v1/namespaces/default/endpoints/web").json())?.value(at: "subsets")?.arrayValue?.first?["addresses"]?.arrayValue?.first?["ip"]?.stringValue == webIP
        })
        #expect(c.allocatedIPs().sorted() == [clientIP, webIP].sorted())

        // Deletion releases the address, the veth and the nat rules.
        let webUID = try c.pod("web")?.value(at: "metadata.uid")?.stringValue ?? ""
        _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/web")
        #expect(try c.eventually(15) { try c.pod("web") == nil })
        #expect(c.allocatedIPs() == [clientIP])
        #expect(c.natRules(for: webUID) == 0)

        // The agent is away while a pod's sandbox dies and the pod is force-deleted: DEL still runs.
        let clientUID = try c.pod("client")?.value(at: "metadata.uid")?.stringValue ?? ""
        c.killNode()
        for line in try c.containers() where line.contains("k8s_POD_client_") || line.contains("k8s_c_client_") {
            if let id = line.split(separator: " ").first { _ = try TestEnv.capture([TestEnv.binDir + "/skiff", "kill", "--root", c.dir + "/node", String(id)]) }
        }
        _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/client", body: Array(#"{"gracePeriodSeconds":0}"#.utf8))
        try c.startNode()
        #expect(try c.eventually(15) { c.allocatedIPs().isEmpty }, "\(c.allocatedIPs()) \(c.nodeLog)")
        #expect(try c.eventually(5) { c.natRules(for: clientUID) == 0 })
        #expect(try c.eventually(10) { try c.containers().isEmpty })
    }
}
