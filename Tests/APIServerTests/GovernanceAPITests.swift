// LimitRange, ResourceQuota and PriorityClass against a real `skiff master`: discovery, the
// built-in classes, Kubernetes' 422s and 403s, LimitRange defaults on the stored pod, quota
// refusals in Kubernetes' words, 50 parallel creates against pods=10 (exactly 10 admitted), the
// controller's recount and full resync, and the real kubectl's tables, describe and create commands.
import API
import Foundation
import Synchronization
import Testing
import TestSupport

@Suite struct GovernanceAPITests {
    static let pods = "/api/v1/namespaces/default/pods"
    static let quotas = "/api/v1/namespaces/default/resourcequotas"
    static let limits = "/api/v1/namespaces/default/limitranges"
    static let classes = "/apis/scheduling.k8s.io/v1/priorityclasses"

    func pod(_ name: String, resources: String = "", spec: String = "") -> String {
        #"{"metadata":{"name":"\#(name)"},"spec":{"containers":[{"name":"c","image":"busybox","resources":{\#(resources)}}]\#(spec)}}"#
    }

    /// Plays the quota controller: status.hard = spec.hard, used as given (0 for the rest).
    func setStatus(_ c: TestClient, _ name: String, used: [String: String] = [:]) throws {
        var q = ResourceQuota(json: try c.get(Self.quotas + "/" + name).json)
        q.status.hard = q.spec.hard
        q.status.used = (q.spec.hard ?? [:]).mapValues { _ in "0" }.merging(used) { _, u in u }
        let r = try c.put(Self.quotas + "/" + name + "/status", q.json.jsonString)
        #expect(r.code == 200, "\(r.errorMessage)")
    }

    func used(_ c: TestClient, _ name: String) throws -> [String: String] {
        ResourceQuota(json: try c.get(Self.quotas + "/" + name).json).status.used ?? [:]
    }

    @Test func kindsValidationAndPriorityClasses() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        let core = try c.get("/api/v1").json["resources"]?.arrayValue ?? []
        #expect(core.contains { $0["name"] == "limitranges" && $0["shortNames"] == ["limits"] && $0["namespaced"] == true })
        #expect(core.contains { $0["name"] == "resourcequotas" && $0["shortNames"] == ["quota"] })
        #expect(core.contains { $0["name"] == "resourcequotas/status" })
        let scheduling = try c.get("/apis/scheduling.k8s.io/v1").json["resources"]?.arrayValue ?? []
        #expect(scheduling.contains { $0["name"] == "priorityclasses" && $0["shortNames"] == ["pc"] && $0["namespaced"] == false })

        // The built-in classes, which stay.
        #expect(PriorityClass(json: try c.get(Self.classes + "/system-node-critical").json).value == 2_000_001_000)
        #expect(PriorityClass(json: try c.get(Self.classes + "/system-cluster-critical").json).value == 2_000_000_000)
        var r = try c.delete(Self.classes + "/system-node-critical")
        #expect(r.code == 403 && r.errorMessage == #"priorityclasses.scheduling.k8s.io "system-node-critical" is forbidden: this is a system priority class and cannot be deleted"#)

        // 422s: a LimitRange with min > max, a quota with a hard value that is no quantity.
        r = try c.post(Self.limits, #"{"metadata":{"name":"bad"},"spec":{"limits":[{"type":"Container","min":{"cpu":"2"},"max":{"cpu":"1"}}]}}"#)
        #expect(r.code == 422 && r.errorMessage.contains(#"LimitRange "bad" is invalid: "#) && r.errorMessage.contains(#"spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1"#), "\(r.errorMessage)")
        #expect(r.json["details"]?["causes"]?.arrayValue?.contains { $0["field"] == "spec.limits[0].min[cpu]" } == true)
        r = try c.post(Self.quotas, #"{"metadata":{"name":"bad"},"spec":{"hard":{"pods":"many"}}}"#)
        #expect(r.code == 422 && r.errorMessage.contains(#"spec.hard[pods]: Invalid value: "many": quantities must match the regular expression"#), "\(r.errorMessage)")
        r = try c.post(Self.quotas, #"{"metadata":{"name":"bad"},"spec":{"hard":{"pods":"2"},"scopes":["Sometimes"]}}"#)
        #expect(r.code == 422 && r.errorMessage.contains("unsupported scope"), "\(r.errorMessage)")
        // A status written on create is dropped (status belongs to the controller and admission).
        r = try c.post(Self.quotas, #"{"metadata":{"name":"q"},"spec":{"hard":{"pods":5}},"status":{"hard":{"pods":"100"},"used":{"pods":"0"}}}"#)
        #expect(r.code == 201 && !ResourceQuota(json: r.json).status.isSet && ResourceQuota(json: r.json).spec.hard == ["pods": "5"], "\(r.errorMessage)")

        // Classes: the value may not change, only one global default, user values up to 1e9.
        r = try c.post(Self.classes, #"{"metadata":{"name":"high"},"value":1000,"globalDefault":true,"description":"important"}"#)
        #expect(r.code == 201 && PriorityClass(json: r.json).preemptionPolicy == "PreemptLowerPriority", "\(r.errorMessage)")
        r = try c.patch(Self.classes + "/high", #"{"value":2000}"#)
        #expect(r.code == 422 && r.errorMessage.contains(#""high" is invalid: value: Forbidden: may not be changed in an update."#), "\(r.errorMessage)")
        r = try c.post(Self.classes, #"{"metadata":{"name":"other"},"value":10,"globalDefault":true}"#)
        #expect(r.code == 403 && r.errorMessage == #"priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass high is already marked as default. Only one default can exist"#, "\(r.errorMessage)")
        r = try c.post(Self.classes, #"{"metadata":{"name":"huge"},"value":2000000000}"#)
        #expect(r.code == 422 && r.errorMessage.contains("value: Forbidden: maximum allowed value of a user defined priority is 1000000000"), "\(r.errorMessage)")

        // Pods: the default class applies; a named class gives its value; an unknown one is a 403.
        r = try c.post(Self.pods, pod("plain"))
        #expect(r.code == 201 && Pod(json: r.json).spec.priority == 1000 && Pod(json: r.json).spec.priorityClassName == "high", "\(r.errorMessage)")
        r = try c.post(Self.pods, pod("lost", spec: #","priorityClassName":"nope""#))
        #expect(r.code == 403 && r.errorMessage == #"pods "lost" is forbidden: no PriorityClass with name nope was found"#, "\(r.errorMessage)")
        r = try c.post(Self.pods, pod("pinned", spec: #","priorityClassName":"high","priority":7"#))
        #expect(r.code == 403 && r.errorMessage.contains("the integer value of priority (7) must not be provided in pod spec"), "\(r.errorMessage)")
        // The system classes in any namespace, as kube-apiserver admits them.
        r = try c.post(Self.pods, pod("crit", spec: #","priorityClassName":"system-node-critical""#))
        #expect(r.code == 201 && Pod(json: r.json).spec.priority == 2_000_001_000, "\(r.errorMessage)")
        r = try c.post("/api/v1/namespaces/kube-system/pods", pod("crit", spec: #","priorityClassName":"system-cluster-critical""#))
        #expect(r.code == 201 && Pod(json: r.json).spec.priority == 2_000_000_000, "\(r.errorMessage)")
    }

    @Test func limitRangeDefaultsAndBounds() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        var r = try c.post(Self.limits, #"""
            {"metadata":{"name":"limits"},"spec":{"limits":[
              {"type":"Container","default":{"cpu":"500m","memory":"128Mi"},"defaultRequest":{"cpu":"250m","memory":"64Mi"},"max":{"cpu":"1"}},
              {"type":"PersistentVolumeClaim","max":{"storage":"2Gi"}}]}}
            """#)
        #expect(r.code == 201, "\(r.errorMessage)")
        r = try c.post(Self.pods, pod("web"))
        #expect(r.code == 201, "\(r.errorMessage)")
        let stored = Pod(json: try c.get(Self.pods + "/web").json)
        #expect(stored.spec.containers[0].resources.requests == ["cpu": "250m", "memory": "64Mi"])
        #expect(stored.spec.containers[0].resources.limits == ["cpu": "500m", "memory": "128Mi"])
        #expect(stored.metadata.annotations?[LimitRanger.annotation] == "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c")
        #expect(stored.json["status"]?["qosClass"] == "Burstable")
        r = try c.post(Self.pods, pod("big", resources: #""limits":{"cpu":"2"}"#))
        #expect(r.code == 403 && r.errorMessage == #"pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2"#, "\(r.errorMessage)")
        // A request above the default limit: the limit it gets is below it, so the pod is invalid (as in Kubernetes).
        r = try c.post(Self.pods, pod("greedy", resources: #""requests":{"memory":"256Mi"}"#))
        #expect(r.code == 422 && r.errorMessage.contains("must be less than or equal to memory limit of 128Mi"), "\(r.errorMessage)")
        let claims = "/api/v1/namespaces/default/persistentvolumeclaims"
        r = try c.post(claims, #"{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"5Gi"}}}}"#)
        #expect(r.code == 403 && r.errorMessage == #"persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi"#, "\(r.errorMessage)")
        r = try c.post(claims, #"{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}"#)
        #expect(r.code == 201, "\(r.errorMessage)")
    }

    @Test func quotaRefusalsAndCharges() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        var r = try c.post(Self.quotas, #"{"metadata":{"name":"compute"},"spec":{"hard":{"pods":"2","requests.cpu":"1","limits.memory":"1Gi"}}}"#)
        #expect(r.code == 201, "\(r.errorMessage)")
        // Until the controller has written its status, the quota limits nothing.
        r = try c.post(Self.pods, pod("early"))
        #expect(r.code == 201, "\(r.errorMessage)")
        try setStatus(c, "compute", used: ["pods": "1"])
        r = try c.post(Self.pods, pod("bare"))
        #expect(r.code == 403 && r.errorMessage == #"pods "bare" is forbidden: failed quota: compute: must specify limits.memory for: c; requests.cpu for: c"#, "\(r.errorMessage)")
        r = try c.post(Self.pods, pod("web", resources: #""requests":{"cpu":"600m"},"limits":{"memory":"512Mi"}"#))
        #expect(r.code == 201, "\(r.errorMessage)")
        #expect(try used(c, "compute") == ["pods": "2", "requests.cpu": "600m", "limits.memory": "512Mi"])
        r = try c.post(Self.pods, pod("more", resources: #""requests":{"cpu":"600m"},"limits":{"memory":"512Mi"}"#))
        #expect(r.code == 403 && r.errorMessage == #"pods "more" is forbidden: exceeded quota: compute, requested: pods=1,requests.cpu=600m, used: pods=2,requests.cpu=600m, limited: pods=2,requests.cpu=1"#, "\(r.errorMessage)")
        // A create that fails after the charge gives it back; a dry run charges nothing.
        r = try c.post(Self.pods, pod("web", resources: #""requests":{"cpu":"100m"},"limits":{"memory":"1Mi"}"#))
        #expect(r.code == 403)   // (pods=2 is full: refused before the name clash)
        try setStatus(c, "compute", used: ["pods": "1", "requests.cpu": "600m", "limits.memory": "512Mi"])
        r = try c.post(Self.pods, pod("web", resources: #""requests":{"cpu":"100m"},"limits":{"memory":"1Mi"}"#))
        #expect(r.code == 409, "\(r.errorMessage)")
        #expect(try used(c, "compute") == ["pods": "1", "requests.cpu": "600m", "limits.memory": "512Mi"])
        r = try c.post(Self.pods + "?dryRun=All", pod("dry", resources: #""requests":{"cpu":"100m"},"limits":{"memory":"1Mi"}"#))
        #expect(r.code == 201, "\(r.errorMessage)")
        #expect(try used(c, "compute")["pods"] == "1")

        // Object counts, by count/ and the legacy names.
        r = try c.post(Self.quotas, #"{"metadata":{"name":"objects"},"spec":{"hard":{"count/configmaps":"1","services.nodeports":"1"}}}"#)
        try setStatus(c, "objects")
        let maps = "/api/v1/namespaces/default/configmaps"
        #expect(try c.post(maps, #"{"metadata":{"name":"one"}}"#).code == 201)
        r = try c.post(maps, #"{"metadata":{"name":"two"}}"#)
        #expect(r.code == 403 && r.errorMessage == #"configmaps "two" is forbidden: exceeded quota: objects, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1"#, "\(r.errorMessage)")
        let services = "/api/v1/namespaces/default/services"
        r = try c.post(services, #"{"metadata":{"name":"np"},"spec":{"type":"NodePort","ports":[{"name":"a","port":80},{"name":"b","port":81}]}}"#)
        #expect(r.code == 403 && r.errorMessage.contains("exceeded quota: objects, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1"), "\(r.errorMessage)")
        r = try c.post(services, #"{"metadata":{"name":"np"},"spec":{"ports":[{"name":"a","port":80}]}}"#)
        #expect(r.code == 201, "\(r.errorMessage)")
        // Turning it into a NodePort Service is charged too, once the update is checked.
        r = try c.patch(services + "/np", #"{"spec":{"type":"NodePort"}}"#)
        #expect(r.code == 200, "\(r.errorMessage)")
        #expect(try used(c, "objects")["services.nodeports"] == "1")
        r = try c.patch(services + "/np", #"{"spec":{"ports":[{"name":"a","port":80},{"name":"b","port":81}]}}"#)
        #expect(r.code == 403 && r.errorMessage.contains("exceeded quota: objects, requested: services.nodeports=1, used: services.nodeports=1"), "\(r.errorMessage)")
    }

    @Test func fiftyParallelCreatesAgainstTenPodsAdmitExactlyTen() throws {
        let m = try MasterProcess(extraArgs: ["--resource-quota-sync-period", "1s"], controllers: true)
        defer { m.stop() }
        let c = m.client
        let ns = TestEnv.uniqueName("quota")
        #expect(try c.post("/api/v1/namespaces", #"{"metadata":{"name":"\#(ns)"}}"#).code == 201)
        let quotas = "/api/v1/namespaces/\(ns)/resourcequotas", pods = "/api/v1/namespaces/\(ns)/pods"
        #expect(try c.post(quotas, #"{"metadata":{"name":"ten"},"spec":{"hard":{"pods":"10"}}}"#).code == 201)
        // The controller gives it a status.
        var status = ResourceQuotaStatus()
        for _ in 0..<100 {
            status = ResourceQuota(json: try c.get(quotas + "/ten").json).status
            if status.used == ["pods": "0"] { break }
            usleep(50_000)
        }
        #expect(status.hard == ["pods": "10"] && status.used == ["pods": "0"])

        let codes = Mutex([Int]())
        let messages = Mutex([String]())
        DispatchQueue.concurrentPerform(iterations: 50) { i in
            let r = try? c.post(pods, pod("p\(i)"))
            codes.withLock { $0.append(r?.code ?? 0) }
            if let r, r.code == 403 { messages.withLock { $0.append(r.errorMessage) } }
        }
        let all = codes.withLock { $0 }
        #expect(all.filter { $0 == 201 }.count == 10, "\(all)")
        #expect(all.filter { $0 == 403 }.count == 40, "\(all)")
        #expect(messages.withLock { $0 }.allSatisfy { $0.hasSuffix("is forbidden: exceeded quota: ten, requested: pods=1, used: pods=10, limited: pods=10") })
        #expect((try c.get(pods).json["items"]?.arrayValue ?? []).count == 10)
        #expect(try c.get(quotas + "/ten").json["status"]?["used"] == ["pods": "10"])

        // Deleted pods are recounted by the controller, and their room is there again.
        for i in 0..<50 { _ = try c.delete(pods + "/p\(i)") }
        for _ in 0..<100 {
            if try c.get(quotas + "/ten").json["status"]?["used"] == ["pods": "0"] { break }
            usleep(50_000)
        }
        #expect(try c.get(quotas + "/ten").json["status"]?["used"] == ["pods": "0"])
        #expect(try c.post(pods, pod("again")).code == 201)

        // Drift (a charge whose write never happened, a hand-edited status) is undone by the full resync.
        var drifted = ResourceQuota(json: try c.get(quotas + "/ten").json)
        drifted.status.used = ["pods": "9"]
        #expect(try c.put(quotas + "/ten/status", drifted.json.jsonString).code == 200)
        #expect(try TestEnv.eventually(10) { try c.get(quotas + "/ten").json["status"]?["used"] == ["pods": "1"] })
    }

    @Test(arguments: ["1.27", "1.33"]) func kubectlTablesDescribeAndCreate(version: String) throws {
        let m = try MasterProcess(controllers: true)
        defer { m.stop() }
        let k = try Kubectl(version: version, master: m)
        // kubectl 1.33's typed clients send these as protobuf.
        _ = try k.ok("create", "quota", "compute", "--hard=pods=4,requests.cpu=2,limits.memory=2Gi")
        _ = try k.ok("create", "priorityclass", "batch", "--value=100", "--description=batch jobs", "--preemption-policy=Never")
        _ = try k.ok("apply", "-f", "-", stdin: """
            apiVersion: v1
            kind: LimitRange
            metadata: {name: defaults}
            spec:
              limits:
              - type: Container
                default: {cpu: 500m, memory: 256Mi}
                defaultRequest: {cpu: 100m, memory: 128Mi}
            """)
        _ = try k.ok("run", "web", "--image=busybox", "--restart=Never")
        var quota = ""
        for _ in 0..<100 {
            quota = try k.ok("get", "quota", "compute")
            if quota.contains("pods: 1/4") { break }
            usleep(50_000)
        }
        let rows = quota.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(rows.first == "NAME AGE REQUEST LIMIT", "\(quota)")
        #expect(rows.last?.contains("pods: 1/4, requests.cpu: 100m/2 limits.memory: 256Mi/2Gi") == true, "\(quota)")
        let described = try k.ok("describe", "quota", "compute")
        #expect(described.contains("limits.memory  256Mi  2Gi") && described.contains("pods           1      4"), "\(described)")
        let pc = try k.ok("get", "pc")
        #expect(pc.contains("PREEMPTIONPOLICY") && pc.split(separator: "\n").contains { $0.hasPrefix("batch") && $0.contains("100") && $0.contains("Never") }, "\(pc)")
        #expect(try k.ok("get", "limits").contains("CREATED AT"))
        #expect(try k.ok("describe", "limits", "defaults").contains("Container   cpu       -    -    100m             500m"))
        let refused = try k.runArgs(["run", "big", "--image=busybox", "--restart=Never", "--overrides", #"{"spec":{"containers":[{"name":"big","image":"busybox","resources":{"requests":{"cpu":"3"},"limits":{"cpu":"3"}}}]}}"#])
        #expect(refused.status != 0 && refused.err.contains(#"pods "big" is forbidden: exceeded quota: compute, requested: requests.cpu=3, used: requests.cpu=100m, limited: requests.cpu=2"#), "\(refused.err)")
    }
}
