// `skiff up` on a host of its own (a network namespace with one address on a veth and a default route, so
// port 53 and the proxy's rules are this cluster's alone): pods find Services by name through the
// cluster DNS — short, namespace-qualified and full names, other namespaces, headless Services
// (one address per ready pod), SRV records, NXDOMAIN, upstream names — fetch http://web/ by name, and a pod
// running the official Python client reaches the API in-cluster with its mounted token and CA:
// 403 until its service account is bound to a role, 200 after.
import API
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs a cluster in a network namespace"))
struct ClusterDNSRootTests {
    /// The cluster: `skiff up` inside `netns`, kubectl run there too (the kubeconfig says 127.0.0.1).
    /// nsenter, not `ip netns exec`: that one mounts a fresh /sys, hiding the cgroup hierarchies.
    final class Host {
        let netns = TestEnv.uniqueName("skdns")
        let dir: String
        let cgroupRoot = TestEnv.uniqueName("skdnspods")
        let address: String
        let up = Process()
        /// The cluster DNS's upstream: dnsmasq in the same netns, knowing upstream.test only.
        var upstream: Dnsmasq?
        let kubectl: String
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

        init() throws {
            dir = try TestEnv.makeTempDir("skiff-dns")
            address = "172.31.\(getpid() % 200).2"
            kubectl = try TestEnv.kubectl()
            for argv in [["netns", "add", netns], ["-n", netns, "link", "set", "lo", "up"],
                         ["-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"],
                         ["-n", netns, "link", "set", "eth0-peer", "up"], ["-n", netns, "addr", "add", address + "/24", "dev", "eth0"],
                         ["-n", netns, "link", "set", "eth0", "up"], ["-n", netns, "route", "add", "default", "dev", "eth0"]] {
                guard try TestEnv.run(["/usr/sbin/ip"] + argv) == 0 else { throw TestFailure("ip \(argv.joined(separator: " ")) failed") }
            }
            let skiff = TestEnv.binDir + "/skiff"
            let imported = try TestEnv.capture([skiff, "image", "import", "--root", dir + "/node", try TestEnv.busyboxImageLayout(), "--tag", "busybox:latest"])
            guard imported.status == 0 else { throw TestFailure("image import: \(imported.stderr)") }
            upstream = try Dnsmasq(hosts: "192.0.2.10 upstream.test\n", port: 5300, netns: netns, extra: ["--address=/#/"])
            up.executableURL = URL(fileURLWithPath: "/bin/sh")
            up.arguments = ["-c", "exec /usr/bin/nsenter --net=/var/run/netns/\(netns) \"$0\" up --dns-upstream 127.0.0.1:5300 --data-dir \(dir)/master --root-dir \(dir)/node --cgroup-root \(cgroupRoot) --port 0 --sync-frequency 1 --cni-conf-dir \(dir)/node/cni-conf --cluster-cidr 10.\(60 + getpid() % 30).0.0/16 --kubeconfig \(dir)/kubeconfig 2>>\(dir)/up.log", skiff]
            try up.run()
        }

        func k(_ args: String..., stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
            try k(args, stdin: stdin)
        }

        func k(_ args: [String], stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
            try TestEnv.capture(["/usr/bin/nsenter", "--net=/var/run/netns/" + netns, kubectl, "--kubeconfig", dir + "/kubeconfig", "--cache-dir", dir + "/kcache"] + args, stdin: stdin)
        }

        var log: String { (try? String(contentsOfFile: dir + "/up.log", encoding: .utf8)) ?? "" }

        func eventually(_ seconds: Double, _ check: () throws -> Bool) rethrows -> Bool { try TestEnv.eventually(seconds, check) }

        deinit {
            if up.isRunning { kill(up.processIdentifier, SIGKILL); up.waitUntilExit() }
            upstream?.stop()
            let skiff = TestEnv.binDir + "/skiff"
            if let list = try? TestEnv.capture([skiff, "ps", "-q", "--root", dir + "/node"]) {
                for id in list.stdout.split(separator: "\n") { _ = try? TestEnv.capture([skiff, "rm", "-f", "--root", dir + "/node", String(id)]) }
            }
            Cluster.removeCgroupRoot(cgroupRoot)
            Cluster.unmountAll(under: dir)
            _ = try? TestEnv.run(["/usr/sbin/ip", "netns", "del", netns])
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    static let workloads = """
        apiVersion: v1
        kind: Namespace
        metadata: {name: otherns}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: other, namespace: otherns}
        spec:
          ports: [{name: http, port: 80}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web-headless}
        spec:
          clusterIP: None
          selector: {app: web}
          ports: [{name: http, port: 8080}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: probe}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
          - name: c
            image: busybox:latest
            imagePullPolicy: IfNotPresent
            command: [sleep, "3600"]
        """

    /// A pod with the host's Python and the venv holding the official client, mounted read-only:
    /// glibc's resolver (search list, ndots) and load_incluster_config() as real software uses them.
    static func pythonPod(_ host: Host) -> (pod: String, python: String) {
        let venv = host.repo + "/hack/.cache/venv"
        let python = URL(fileURLWithPath: venv + "/bin/python").resolvingSymlinksInPath().path
        let prefix = ((python as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        let pod = """
            apiVersion: v1
            kind: Pod
            metadata: {name: pyclient}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
              - name: c
                image: busybox:latest
                imagePullPolicy: IfNotPresent
                command: [sleep, "3600"]
                volumeMounts:
                - {name: usr, mountPath: /usr, readOnly: true}
                - {name: lib, mountPath: /lib, readOnly: true}
                - {name: lib64, mountPath: /lib64, readOnly: true}
                - {name: python, mountPath: \(prefix), readOnly: true}
                - {name: venv, mountPath: \(venv), readOnly: true}
              volumes:
              - {name: usr, hostPath: {path: /usr}}
              - {name: lib, hostPath: {path: /usr/lib}}
              - {name: lib64, hostPath: {path: /usr/lib64}}
              - {name: python, hostPath: {path: \(prefix)}}
              - {name: venv, hostPath: {path: \(venv)}}
            """
        return (pod, venv + "/bin/python")
    }

    @Test func podsResolveServicesAndReachTheAPIAsThemselves() throws {
        let host = try Host()
        let (pyPod, python) = Self.pythonPod(host)
        try #require(FileManager.default.isExecutableFile(atPath: python), "no venv at \(python): hack/test.sh makes it")
        let ready = host.eventually(60) { (try? host.k("get", "nodes").stdout.contains(" Ready")) == true }
        try #require(ready, "\(host.log)")
        let dnsService = try host.k("get", "svc", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.spec.clusterIP} {.spec.ports[*].name}")
        #expect(dnsService.stdout == "10.96.0.10 dns dns-tcp", "\(dnsService)")
        let web = try String(contentsOfFile: host.repo + "/examples/web.yaml", encoding: .utf8)
        #expect(try host.k("apply", "-f", "-", stdin: web + "\n---\n" + Self.workloads + "\n---\n" + pyPod).status == 0)
        #expect(try host.k("rollout", "status", "deployment/web", "--timeout=90s").status == 0, "\(host.log)")
        for pod in ["probe", "pyclient"] {
            #expect(try host.k("wait", "--for=condition=Ready", "pod/" + pod, "--timeout=60s").status == 0, "\(pod): \(host.log)")
        }
        func inPod(_ args: String...) throws -> String {
            let r = try host.k(["exec", "probe", "--"] + args)
            return r.stdout + r.stderr
        }
        func inPython(_ script: String) throws -> String {
            let r = try host.k(["exec", "pyclient", "--", python, "-c", script])
            return (r.stdout + r.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let resolv = try inPod("cat", "/etc/resolv.conf")
        #expect(resolv.contains("nameserver 10.96.0.10") && resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local")
                && resolv.contains("options ndots:5"), "\(resolv)")
        let webIP = try host.k("get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}").stdout
        let otherIP = try host.k("get", "svc", "-n", "otherns", "other", "-o", "jsonpath={.spec.clusterIP}").stdout
        // Short names through glibc's search list (busybox's own nslookup skips it for dotted names).
        for (name, ip) in [("web", webIP), ("web.default", webIP), ("web.default.svc", webIP),
                           ("web.default.svc.cluster.local", webIP), ("other.otherns", otherIP)] {
            let got = try inPython("import socket; print(socket.gethostbyname('\(name)'))")
            #expect(got == ip, "\(name): \(got)")
        }
        #expect(try inPod("nslookup", "web").contains("Address: \(webIP)"))
        let podIPs = try host.k("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].status.podIP}").stdout.split(separator: " ").map(String.init)
        #expect(podIPs.count == 3)
        let headless = try inPod("nslookup", "web-headless.default.svc.cluster.local")
        #expect(podIPs.allSatisfy { headless.contains("Address: \($0)") }, "headless answers every ready pod \(podIPs): \(headless)")
        let srv = try inPod("nslookup", "-type=SRV", "_http._tcp.web.default.svc.cluster.local")
        #expect(srv.contains("80 web.default.svc.cluster.local"), "\(srv)")
        let missing = try inPod("nslookup", "nothing-here.default.svc.cluster.local")
        #expect(missing.contains("NXDOMAIN"), "\(missing)")
        // Other names go to the upstream.
        #expect(try inPython("import socket; print(socket.gethostbyname('upstream.test'))") == "192.0.2.10")
        // By name over HTTP, as an application does (busybox-static's wget can't resolve: static glibc, no NSS modules).
        var fetched = ""
        _ = host.eventually(20) {
            fetched = (try? inPython("import urllib.request; print(urllib.request.urlopen('http://web/', timeout=3).read().decode())")) ?? ""
            return fetched.contains("hello from web-")
        }
        #expect(fetched.contains("hello from web-"), "http://web/: \(fetched)")
        // A new Service is answered at once.
        #expect(try host.k("create", "service", "clusterip", "late", "--tcp=80:80").status == 0)
        let lateIP = try host.k("get", "svc", "late", "-o", "jsonpath={.spec.clusterIP}").stdout
        #expect(try inPython("import socket; print(socket.gethostbyname('late'))") == lateIP)

        try inClusterAPI(host, inPython)
    }

    /// load_incluster_config() reads the env vars and the three mounted files, verifies the API's
    /// certificate against ca.crt and authenticates as system:serviceaccount:default:default.
    func inClusterAPI(_ host: Host, _ inPython: (String) throws -> String) throws {
        let files = try host.k("exec", "pyclient", "--", "ls", "/var/run/secrets/kubernetes.io/serviceaccount").stdout
        #expect(files.split(separator: "\n").sorted() == ["ca.crt", "namespace", "token"], "\(files)")
        let script = """
            from kubernetes import client, config
            config.load_incluster_config()
            try:
                client.CoreV1Api().list_namespaced_pod("default")
                print("status 200")
            except client.exceptions.ApiException as e:
                print("status", e.status)
            """
        let denied = try inPython(script)
        #expect(denied.contains("status 403"), "the default account can do nothing until bound: \(denied)")
        #expect(try host.k("create", "rolebinding", "default-view", "--clusterrole=view", "--serviceaccount=default:default").status == 0)
        var allowed = ""
        _ = host.eventually(10) { allowed = (try? inPython(script)) ?? ""; return allowed.contains("status 200") }
        #expect(allowed.contains("status 200"), "after the RoleBinding: \(allowed)")
    }
}
