// Pod features on a real node: the sandbox's shared namespaces, init containers, env sources,
// volumes, securityContext, QoS cgroups and OOM reporting.
import API
import Client
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension Cluster {
    func create(_ path: String, _ yaml: String) throws {
        let r = try api.request("POST", path, body: Array(yaml.utf8), contentType: "application/yaml")
        guard r.code == 201 else { throw ClientError("create \(path): \(r.errorMessage)") }
    }

    func status(_ pod: String, _ container: String, init isInit: Bool = false) throws -> JSONValue? {
        try self.pod(pod)?["status"]?[isInit ? "initContainerStatuses" : "containerStatuses"]?.arrayValue?
            .first { $0["name"]?.stringValue == container }
    }

    /// Waits for the pod to be Running and the container's log to hold `marker`.
    func waitForLog(_ pod: String, _ container: String, _ marker: String, seconds: Double = 20) throws -> String {
        var text = ""
        _ = try eventually(seconds) { text = try logs(pod, container); return text.contains(marker) }
        return text
    }
}

/// `key: value` lines printed by a test container, as a dictionary.
func fields(_ log: String) -> [String: String] {
    var out: [String: String] = [:]
    for line in log.split(separator: "\n") {
        guard let colon = line.firstIndex(of: "=") else { continue }
        out[String(line[..<colon])] = String(line[line.index(after: colon)...])
    }
    return out
}

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct PodFeatureRootTests {
    @Test func sandboxSharesNamespacesAndInitContainersRunFirst() throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: shared}
        spec:
          nodeName: \(c.nodeName)
          shareProcessNamespace: true
          terminationGracePeriodSeconds: 1
          volumes: [{name: work, emptyDir: {}}]
          initContainers:
          - {name: first, image: busybox:test, command: ["sh", "-c", "echo one > /work/order"], volumeMounts: [{name: work, mountPath: /work}]}
          - {name: second, image: busybox:test, command: ["sh", "-c", "echo two >> /work/order"], volumeMounts: [{name: work, mountPath: /work}]}
          containers:
          - name: a
            image: busybox:test
            volumeMounts: [{name: work, mountPath: /work}]
            command: ["sh", "-c", "echo order=$(cat /work/order | tr '\\\\n' ,); echo net=$(readlink /proc/self/ns/net); echo ipc=$(readlink /proc/self/ns/ipc); echo host=$(hostname); echo pid1=$(tr '\\\\0' ' ' < /proc/1/cmdline); echo done=1; sleep 1000"]
          - name: b
            image: busybox:test
            command: ["sh", "-c", "echo net=$(readlink /proc/self/ns/net); echo ipc=$(readlink /proc/self/ns/ipc); echo done=1; sleep 1000"]
        """)
        #expect(try c.eventually { try c.pod("shared")?.value(at: "status.phase") == "Running" }, "\(c.nodeLog)")
        let a = fields(try c.waitForLog("shared", "a", "done=1"))
        let b = fields(try c.waitForLog("shared", "b", "done=1"))
        #expect(a["order"] == "one,two,", "init containers ran in order before the app: \(a)")
        #expect(a["net"] != nil && a["net"] == b["net"], "one network namespace per pod: \(a) \(b)")
        #expect(a["ipc"] != nil && a["ipc"] == b["ipc"])
        let hostNet = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")) ?? ""
        #expect(a["net"] != hostNet, "the pod has its own network namespace")
        #expect(a["host"] == "shared")
        #expect(a["pid1"]?.hasPrefix("/pause") == true, "shareProcessNamespace: the sandbox is PID 1: \(a)")
        let pod = try c.pod("shared")
        #expect(try c.status("shared", "first", init: true)?.value(at: "state.terminated.reason") == "Completed")
        #expect(try c.status("shared", "second", init: true)?.value(at: "state.terminated.exitCode") == 0)
        let initialized = pod?["status"]?["conditions"]?.arrayValue?.first { $0["type"] == "Initialized" }
        #expect(initialized?["status"] == "True")
        #expect(pod?.value(at: "status.qosClass") == "BestEffort")

        // A failing init container with restartPolicy Never fails the pod; app containers never start.
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: badinit}
        spec:
          nodeName: \(c.nodeName)
          restartPolicy: Never
          initContainers: [{name: init, image: busybox:test, command: ["sh", "-c", "exit 4"]}]
          containers: [{name: app, image: busybox:test, command: ["sleep", "1000"]}]
        """)
        #expect(try c.eventually { try c.pod("badinit")?.value(at: "status.phase") == "Failed" })
        #expect(try c.status("badinit", "init", init: true)?.value(at: "state.terminated.exitCode") == 4)
        #expect(try c.appContainers().filter { $0.contains("k8s_app_badinit_") }.isEmpty)

        // hostNetwork: the host's network namespace, podIP = hostIP.
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: hostnet}
        spec:
          nodeName: \(c.nodeName)
          hostNetwork: true
          terminationGracePeriodSeconds: 1
          containers: [{name: c, image: busybox:test, command: ["sh", "-c", "echo net=$(readlink /proc/self/ns/net); sleep 1000"]}]
        """)
        let h = fields(try c.waitForLog("hostnet", "c", "net="))
        #expect(h["net"] == hostNet, "\(h)")
        // The status that carries it may land just after the container's first output.
        #expect(try c.eventually(10) {
            let hp = try c.pod("hostnet")
            return hp?.value(at: "status.podIP") != nil && hp?.value(at: "status.podIP") == hp?.value(at: "status.hostIP")
        })

        for name in ["shared", "badinit", "hostnet"] { _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/\(name)") }
        #expect(try c.eventually(20) { try c.containers().isEmpty }, "\((try? c.containers()) ?? [])")
        #expect(c.podCgroups().isEmpty)
    }

    @Test func envSourcesAndVolumes() throws {
        let c = try Cluster()
        defer { c.stop() }
        let hostDir = c.dir + "/host-data"
        try c.create("/api/v1/namespaces/default/configmaps", """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings}
        data: {greeting: hello, mode: fast, app.conf: "x = 1"}
        """)
        try c.create("/api/v1/namespaces/default/secrets", """
        apiVersion: v1
        kind: Secret
        metadata: {name: creds}
        stringData: {password: s3cret}
        """)
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: envvol, labels: {app: demo, tier: web}}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          volumes:
          - {name: cfg, configMap: {name: settings, items: [{key: app.conf, path: conf/app.conf}]}}
          - {name: sec, secret: {secretName: creds, defaultMode: 256}}
          - {name: info, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: mem, resourceFieldRef: {containerName: c, resource: limits.memory, divisor: 1Mi}}]}}
          - {name: all, projected: {sources: [{configMap: {name: settings, items: [{key: greeting, path: greeting}]}}, {secret: {name: creds}}]}}
          - {name: scratch, emptyDir: {medium: Memory, sizeLimit: 8Mi}}
          - {name: host, hostPath: {path: \(hostDir), type: DirectoryOrCreate}}
          containers:
          - name: c
            image: busybox:test
            resources: {limits: {memory: 64Mi, cpu: 500m}}
            envFrom: [{prefix: CM_, configMapRef: {name: settings}}]
            env:
            - {name: GREETING, valueFrom: {configMapKeyRef: {name: settings, key: greeting}}}
            - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
            - {name: MILLICORES, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
            - {name: MESSAGE, value: "$(GREETING) from $(POD_NAME), $$(literal) $(UNDEFINED)"}
            - {name: MISSING, valueFrom: {configMapKeyRef: {name: nope, key: x, optional: true}}}
            volumeMounts:
            - {name: cfg, mountPath: /etc/cfg}
            - {name: sec, mountPath: /etc/sec, readOnly: true}
            - {name: info, mountPath: /etc/info}
            - {name: all, mountPath: /etc/all}
            - {name: scratch, mountPath: /scratch}
            - {name: host, mountPath: /host}
            - {name: host, mountPath: /sub, subPath: nested/dir}
            command: ["sh", "-c"]
            args:
            - |
              echo greeting=$GREETING; echo password=$PASSWORD; echo pod=$POD_NAME; echo app=$APP
              echo millicores=$MILLICORES; echo message=$MESSAGE; echo cm_mode=$CM_mode; echo missing=${MISSING-unset}
              echo arg=$(POD_NAME)
              echo conf=$(cat /etc/cfg/conf/app.conf); echo secret=$(cat /etc/sec/password)
              echo secretmode=$(stat -L -c %a /etc/sec/password)
              echo labels=$(cat /etc/info/labels | tr '\\n' ,); echo mem=$(cat /etc/info/mem)
              echo projected=$(cat /etc/all/greeting)+$(cat /etc/all/password)
              echo scratchfs=$(df -P /scratch | tail -1 | awk '{print $2}')
              echo written > /host/from-pod; echo sub > /sub/file
              touch /etc/sec/x 2>/dev/null && echo secwrite=yes || echo secwrite=no
              echo done=1; sleep 1000
        """)
        let log = try c.waitForLog("envvol", "c", "done=1")
        let f = fields(log)
        #expect(f["greeting"] == "hello", "\(log) \(c.nodeLog) \((try? c.pod("envvol")?.jsonString) ?? "")")
        #expect(f["password"] == "s3cret")
        #expect(f["pod"] == "envvol")
        #expect(f["app"] == "demo")
        #expect(f["millicores"] == "500")
        #expect(f["message"] == "hello from envvol, $(literal) $(UNDEFINED)")
        #expect(f["cm_mode"] == "fast")
        #expect(f["missing"] == "unset")
        #expect(f["arg"] == "envvol", "$(VAR) in args is expanded")
        #expect(f["conf"] == "x = 1")
        #expect(f["secret"] == "s3cret")
        #expect(f["secretmode"] == "400")
        #expect(f["labels"] == "app=\"demo\",tier=\"web\"")
        #expect(f["mem"] == "64")
        #expect(f["projected"] == "hello+s3cret")
        #expect(f["scratchfs"] == "8192", "emptyDir medium Memory is a tmpfs of sizeLimit: \(f)")
        #expect(f["secwrite"] == "no", "readOnly volume mounts can't be written")
        #expect((try? String(contentsOfFile: hostDir + "/from-pod", encoding: .utf8)) == "written\n")
        #expect((try? String(contentsOfFile: hostDir + "/nested/dir/file", encoding: .utf8)) == "sub\n")

        // A changed ConfigMap reaches the running pod's volume (the atomic writer swaps ..data).
        let patch = try c.api.request("PATCH", "/api/v1/namespaces/default/configmaps/settings", body: Array(#"{"data":{"greeting":"bonjour"}}"#.utf8),
                                      contentType: "application/merge-patch+json")
        #expect(patch.code == 200)
        #expect(try c.eventually(10) { try c.kubectl(["exec", "envvol", "--", "cat", "/etc/all/greeting"]).out == "bonjour" })

        // A missing ConfigMap key: the container can't be created, with the reason in its status.
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: badref}
        spec:
          nodeName: \(c.nodeName)
          containers:
          - name: c
            image: busybox:test
            command: ["sleep", "1000"]
            env: [{name: X, valueFrom: {configMapKeyRef: {name: settings, key: absent}}}]
        """)
        #expect(try c.eventually { try c.status("badref", "c")?.value(at: "state.waiting.reason") == "CreateContainerConfigError" })
        let message = try c.status("badref", "c")?.value(at: "state.waiting.message")?.stringValue ?? ""
        #expect(message.contains("absent"), "\(message)")

        // A subPath that leads out of its volume through a symlink is refused.
        try FileManager.default.createSymbolicLink(atPath: hostDir + "/escape", withDestinationPath: "/etc")
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: escape}
        spec:
          nodeName: \(c.nodeName)
          volumes: [{name: host, hostPath: {path: \(hostDir)}}]
          containers:
          - {name: c, image: busybox:test, command: ["sleep", "1000"], volumeMounts: [{name: host, mountPath: /x, subPath: escape}]}
        """)
        #expect(try c.eventually { try c.status("escape", "c")?.value(at: "state.waiting.message")?.stringValue?.contains("escapes its volume") == true })
        #expect(try c.appContainers().filter { $0.contains("k8s_c_escape_") }.isEmpty)

        let uid = try c.pod("envvol")?.value(at: "metadata.uid")?.stringValue ?? ""
        for name in ["envvol", "badref", "escape"] { _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/\(name)") }
        #expect(try c.eventually(20) { try c.containers().isEmpty })
        let mounts = TestEnv.mountinfo()
        #expect(!mounts.contains(c.dir + "/node/pods/"), "tmpfs volumes are unmounted")
        #expect(!FileManager.default.fileExists(atPath: c.dir + "/node/pods/" + uid))
        #expect(FileManager.default.fileExists(atPath: hostDir + "/from-pod"), "hostPath data stays")
    }

    @Test func securityContextQoSCgroupsAndOOM() throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: secure}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000]}
          volumes: [{name: data, emptyDir: {}}]
          containers:
          - name: c
            image: busybox:test
            resources: {limits: {cpu: 250m, memory: 32Mi}}
            securityContext:
              readOnlyRootFilesystem: true
              allowPrivilegeEscalation: false
              capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
              seccompProfile: {type: Unconfined}
            volumeMounts: [{name: data, mountPath: /data}]
            command: ["sh", "-c", "echo id=$(id -u):$(id -g); echo groups=$(id -G); touch /rootfile 2>/dev/null && echo rootwrite=yes || echo rootwrite=no; touch /data/f && echo datawrite=yes || echo datawrite=no; grep -E '^(CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\\\t' | sed 's/:/=/'; echo done=1; sleep 1000"]
        """)
        let log = try c.waitForLog("secure", "c", "done=1")
        let f = fields(log)
        #expect(f["id"] == "1000:3000", "\(log) \(c.nodeLog)")
        #expect(f["groups"]?.split(separator: " ").contains("2000") == true, "fsGroup is a supplementary group: \(f)")
        #expect(f["groups"]?.split(separator: " ").contains("4000") == true)
        #expect(f["rootwrite"] == "no")
        #expect(f["datawrite"] == "yes", "fsGroup makes the emptyDir writable for the group")
        #expect(f["CapBnd"] == "0000000000000400", "drop ALL, add NET_BIND_SERVICE: \(f)")
        #expect(f["NoNewPrivs"] == "1")
        #expect(f["Seccomp"] == "0")
        // Guaranteed QoS: the pod cgroup sits right under kubepods with the pod's limits.
        let pod = try c.pod("secure")
        #expect(pod?.value(at: "status.qosClass") == "Guaranteed")
        let uid = pod?.value(at: "metadata.uid")?.stringValue ?? ""
        let podCgroup = "/sys/fs/cgroup/memory/\(c.cgroupRoot)/kubepods/pod\(uid)"
        #expect((try? String(contentsOfFile: podCgroup + "/memory.limit_in_bytes", encoding: .utf8)) == "33554432\n")
        let cpuCgroup = "/sys/fs/cgroup/cpu,cpuacct/\(c.cgroupRoot)/kubepods/pod\(uid)/cpu.cfs_quota_us"
        let cpuAlt = "/sys/fs/cgroup/cpu/\(c.cgroupRoot)/kubepods/pod\(uid)/cpu.cfs_quota_us"
        let quota = (try? String(contentsOfFile: cpuCgroup, encoding: .utf8)) ?? (try? String(contentsOfFile: cpuAlt, encoding: .utf8))
        #expect(quota == "25000\n")

        // runAsNonRoot with an image that runs as root: refused with the kubelet's reason.
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: nonroot}
        spec:
          nodeName: \(c.nodeName)
          securityContext: {runAsNonRoot: true}
          containers: [{name: c, image: busybox:test, command: ["sleep", "1000"]}]
        """)
        #expect(try c.eventually { try c.status("nonroot", "c")?.value(at: "state.waiting.message")?.stringValue?.contains("runAsNonRoot") == true })

        // A container over its memory limit: OOMKilled in its status; Burstable pod cgroup.
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: hog}
        spec:
          nodeName: \(c.nodeName)
          restartPolicy: Never
          containers:
          - name: c
            image: busybox:test
            resources: {requests: {memory: 16Mi}, limits: {memory: 32Mi}}
            command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"]
        """)
        #expect(try c.eventually { try c.pod("hog")?.value(at: "status.phase") == "Failed" })
        let hog = try c.status("hog", "c")
        #expect(hog?.value(at: "state.terminated.reason") == "OOMKilled", "\(hog?.jsonString ?? "")")
        #expect(hog?.value(at: "state.terminated.exitCode") == 137)
        #expect(try c.pod("hog")?.value(at: "status.qosClass") == "Burstable")

        for name in ["secure", "nonroot", "hog"] { _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/\(name)") }
        #expect(try c.eventually(20) { try c.containers().isEmpty })
        #expect(c.podCgroups().isEmpty, "\(c.podCgroups())")
    }
}
