// A secured cluster end to end: `skiff master --tls` and a node joining with `--token` (its CA
// pinned by the token's hash, its own client and serving certificates). The node registers and
// runs a pod with its service account credentials mounted (a bound token that dies with it);
// kubectl logs and exec reach it through the master over mutual TLS; the node server
// refuses callers without credentials (401) and other nodes (403); a wrong token or a forged secret
// cannot join.
import API
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct SecureClusterRootTests {
    @Test func aNodeJoinsWithItsTokenAndServesOnlyTheMaster() throws {
        let dir = try TestEnv.makeTempDir("skiff-secure")
        let skiff = TestEnv.binDir + "/skiff"
        let name = TestEnv.uniqueName("sn")
        let cgroup = TestEnv.uniqueName("skiffsec")
        let master = Process(), node = Process()
        defer {
            for p in [node, master] where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
            for id in ((try? TestEnv.capture([skiff, "ps", "-q", "--root", dir + "/node"]).stdout) ?? "").split(separator: "\n") {
                _ = try? TestEnv.capture([skiff, "rm", "-f", "--root", dir + "/node", String(id)])
            }
            Cluster.removePodNetworks(rootDir: dir + "/node")
            Cluster.removeCgroupRoot(cgroup)
            try? FileManager.default.removeItem(atPath: dir)
        }
        master.executableURL = URL(fileURLWithPath: "/bin/sh")
        master.arguments = ["-c", "exec \"$0\" master --tls --listen 127.0.0.1:0 --data-dir \(dir)/master --cluster-cidr \(Cluster.nextClusterCIDR()) 2>>\(dir)/master.log", skiff]
        try master.run()
        var port = 0
        let deadline = Date().addingTimeInterval(20)
        while port == 0 && Date() < deadline {
            let log = (try? String(contentsOfFile: dir + "/master.log", encoding: .utf8)) ?? ""
            if let r = log.range(of: "https://127.0.0.1:") { port = Int(log[r.upperBound...].prefix { $0.isNumber }) ?? 0 }
            if port == 0 { usleep(50_000) }
        }
        #expect(port > 0)
        let server = "https://127.0.0.1:\(port)"
        let token = try String(contentsOfFile: dir + "/master/node-token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect((try FileManager.default.attributesOfItem(atPath: dir + "/master/node-token")[.posixPermissions] as? Int) == 0o600)
        _ = try TestEnv.capture([skiff, "image", "import", "--root", dir + "/node", try TestEnv.busyboxImageLayout(), "--tag", "busybox:test"])
        func nodeArgs(_ token: String, root: String) -> String {
            "exec \"$0\" node --server \(server) --token \(token) --name \(name) --root-dir \(root) --cgroup-root \(cgroup) --address 127.0.0.1 --port 0 --node-ip 127.0.0.1 --cni-conf-dir \(root)/cni-conf"
        }

        // Wrong tokens: a CA hash that isn't the server's, and the right hash with a forged secret.
        let parts = token.components(separatedBy: "::node:")
        let wrongHash = try TestEnv.capture(["/bin/sh", "-c", nodeArgs("K10" + String(repeating: "0", count: 64) + "::node:x", root: dir + "/bad1"), skiff])
        #expect(wrongHash.status != 0 && wrongHash.stderr.contains("does not have the CA the token names"), "\(wrongHash.stderr)")
        let forged = try TestEnv.capture(["/bin/sh", "-c", nodeArgs(parts[0] + "::node:forged", root: dir + "/bad2"), skiff])
        #expect(forged.status != 0 && forged.stderr.contains("HTTP 401"), "\(forged.stderr)")

        node.executableURL = URL(fileURLWithPath: "/bin/sh")
        node.arguments = ["-c", nodeArgs(token, root: dir + "/node") + " 2>>\(dir)/node.log", skiff]
        try node.run()
        let kubectl = try TestEnv.kubectl()
        func k(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try TestEnv.capture([kubectl, "--kubeconfig", dir + "/master/admin.kubeconfig", "--cache-dir", dir + "/kcache"] + args)
        }
        func eventually(_ seconds: Double, _ check: () throws -> Bool) rethrows -> Bool { try TestEnv.eventually(seconds, check) }
        #expect(try eventually(30) { try k(["get", "node", name, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"]).stdout == "True" },
                "\((try? String(contentsOfFile: dir + "/node.log", encoding: .utf8)) ?? "")")
        let nodeLog = (try? String(contentsOfFile: dir + "/node.log", encoding: .utf8)) ?? ""
        #expect(nodeLog.contains("joined \(server) as system:node:\(name)"))
        #expect((try FileManager.default.attributesOfItem(atPath: dir + "/node/pki/node-client.key")[.posixPermissions] as? Int) == 0o600)

        #expect(try k(["run", "hello", "--image=busybox:test", "--restart=Never", "--overrides",
                       #"{"spec":{"nodeName":"\#(name)"}}"#, "--", "sh", "-c", "echo hello-secure; sleep 300"]).status == 0)
        #expect(try eventually(30) { try k(["get", "pod", "hello", "-o", "jsonpath={.status.phase}"]).stdout == "Running" })
        #expect(try eventually(10) { try k(["logs", "hello"]).stdout == "hello-secure\n" })
        let exec = try k(["exec", "hello", "--", "cat", "/etc/hostname"])
        #expect(exec.status == 0 && exec.stdout == "hello\n", "\(exec)")
        // Its service account's credentials, injected at admission and projected by the node: the
        // namespace, the cluster CA (the kube-root-ca.crt ConfigMap) and a token bound to the pod.
        let sa = "/var/run/secrets/kubernetes.io/serviceaccount"
        #expect(try k(["exec", "hello", "--", "cat", sa + "/namespace"]).stdout == "default")
        let ca = try String(contentsOfFile: dir + "/master/tls/ca.crt", encoding: .utf8)
        #expect(try eventually(10) { try k(["exec", "hello", "--", "cat", sa + "/ca.crt"]).stdout == ca })
        let podToken = try k(["exec", "hello", "--", "cat", sa + "/token"]).stdout
        #expect(podToken.split(separator: ".").count == 3, "\(podToken)")
        let whoami = try TestEnv.capture(["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", dir + "/master/tls/ca.crt",
                                          "-H", "Authorization: Bearer \(podToken)", server + "/apis"])
        #expect(whoami.stdout == "200", "\(whoami)")
        // skiffctl too: its exec websocket over TLS with the kubeconfig's client certificate.
        let ours = try TestEnv.capture([TestEnv.binDir + "/skiffctl", "exec", "--kubeconfig", dir + "/master/admin.kubeconfig", "hello", "--", "cat", "/etc/hostname"])
        #expect(ours.status == 0 && ours.stdout == "hello\n", "\(ours)")

        // The node server: no credentials, 401; the node's own certificate, 403 (no nodes/proxy for it).
        let nodePort = Int(try k(["get", "node", name, "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}"]).stdout) ?? 0
        let anonymous = try TestEnv.capture(["/usr/bin/curl", "-sk", "-w", "%{http_code}", "https://127.0.0.1:\(nodePort)/pods"])
        #expect(anonymous.stdout == "Unauthorized\n401", "\(anonymous)")
        let plain = try TestEnv.capture(["/usr/bin/curl", "-s", "http://127.0.0.1:\(nodePort)/pods"])
        #expect(!plain.stdout.contains("PodList"))
        let asNode = try TestEnv.capture(["/usr/bin/curl", "-s", "--cacert", dir + "/node/pki/ca.crt", "--cert", dir + "/node/pki/node-client.crt",
                                          "--key", dir + "/node/pki/node-client.key", "https://127.0.0.1:\(nodePort)/pods"])
        #expect(asNode.stdout.contains("Forbidden") && !asNode.stdout.contains("PodList"), "\(asNode)")
        // The node's local-path provisioner under the Node authorizer: it reads claims and
        // classes and creates, then deletes, its volumes with the node's own credentials.
        let manifest = """
        apiVersion: storage.k8s.io/v1
        kind: StorageClass
        metadata: {name: local-path}
        provisioner: skiff.io/local-path
        reclaimPolicy: Delete
        ---
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata:
          name: data
          annotations: {volume.kubernetes.io/storage-provisioner: skiff.io/local-path, volume.kubernetes.io/selected-node: \(name)}
        spec: {accessModes: [ReadWriteOnce], storageClassName: local-path, resources: {requests: {storage: 1Gi}}}
        """
        let applied = try TestEnv.capture([kubectl, "--kubeconfig", dir + "/master/admin.kubeconfig", "--cache-dir", dir + "/kcache", "apply", "-f", "-"], stdin: manifest)
        #expect(applied.status == 0, "\(applied)")
        let claimUID = try k(["get", "pvc", "data", "-o", "jsonpath={.metadata.uid}"]).stdout
        #expect(try eventually(20) { try k(["get", "pv", "pvc-" + claimUID, "-o", "jsonpath={.spec.claimRef.name}"]).stdout == "data" },
                "\((try? String(contentsOfFile: dir + "/node.log", encoding: .utf8)) ?? "")")
        // The claim deleted, the PV controller releases the volume and the node deletes it.
        #expect(try k(["delete", "pvc", "data"]).status == 0)
        #expect(try eventually(20) { try k(["get", "pv", "pvc-" + claimUID]).status != 0 }, "the node deleted its released volume")
        _ = try k(["delete", "pod", "hello", "--grace-period=1"])
        // The pod gone, its token no longer authenticates.
        #expect(try eventually(30) {
            try TestEnv.capture(["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", dir + "/master/tls/ca.crt",
                                 "-H", "Authorization: Bearer \(podToken)", server + "/apis"]).stdout == "401"
        })
    }
}
