// ResourceQuota's arithmetic and decisions: quantity sums, what pods, services and claims use,
// the admission's refusals in Kubernetes' words (the docs' pod-count and compute examples),
// scopes and scope selectors, updates charged by their delta, validation; and the Priority
// admission's rules.
import API
import Foundation
import Testing

@Suite struct QuotaTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// A quota as the controller leaves it: status.hard = spec.hard, status.used as given.
    func quota(_ name: String, hard: [String: String], used: [String: String] = [:], scopes: [String] = [],
               selector: [(String, String, [String])] = []) -> ResourceQuota {
        var q = ResourceQuota.new(namespace: "d", name: name)
        q.spec.hard = hard
        if !scopes.isEmpty { q.spec.scopes = scopes }
        if !selector.isEmpty {
            var s = ScopeSelector()
            s.matchExpressions = selector.map { name, op, values in
                var r = ScopedResourceSelectorRequirement()
                r.scopeName = name
                r.op = op
                r.values = values.isEmpty ? nil : values
                return r
            }
            q.spec.scopeSelector = s
        }
        q.status.hard = hard
        q.status.used = hard.mapValues { _ in "0" }.merging(used) { _, u in u }
        return q
    }

    let pods = QuotaEvaluator.forResource(Pod.resource)

    func check(_ quotas: [ResourceQuota], _ pod: Pod) throws -> [ResourceQuota] {
        try QuotaAdmission.check(quotas, evaluator: pods, object: pod.json, old: nil, now: Self.now)
    }

    func refusal(_ quotas: [ResourceQuota], _ pod: Pod) -> String? {
        do { _ = try check(quotas, pod); return nil } catch { return (error as? AdmissionRefusal)?.message }
    }

    @Test func quantitiesAddExactlyInTheFirstFormat() throws {
        func q(_ s: String) throws -> Quantity { try Quantity(parsing: s) }
        #expect(try q("1").adding(try q("500m")).description == "1500m")
        #expect(try q("0").adding(try q("64Mi")).description == "64Mi")
        #expect(try q("128Mi").adding(try q("128Mi")).description == "256Mi")
        #expect(try q("64Mi").adding(try q("100M")).description == "167108864")
        #expect(try q("2").subtracting(try q("2500m")).description == "-500m")
        #expect(try q("1.5").roundedUp.description == "2")
        let list: ResourceList = ["pods": try q("3"), "cpu": try q("250m")]
        #expect(list.prettyPrinted == "cpu=250m,pods=3")
        #expect(list.isWithin(["pods": try q("2")]) == (false, ["pods"]))
        #expect(list.isWithin(["memory": try q("1")]).ok)
    }

    @Test func podUsageCountsComputeUntilThePodFinishes() throws {
        var pod = try testPod(container("a", #""limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"500m","memory":"512Mi"}"#) + ","
                              + container("b", #""requests":{"cpu":"250m","example.com/gpu":"2"}"#))
        let used = pods.usage(pod.json, now: Self.now).rendered
        #expect(used == ["count/pods": "1", "pods": "1", "cpu": "750m", "requests.cpu": "750m", "memory": "512Mi",
                         "requests.memory": "512Mi", "limits.cpu": "1", "limits.memory": "1Gi", "requests.example.com/gpu": "2"])
        pod.status.phase = .succeeded
        #expect(pods.usage(pod.json, now: Self.now).rendered == ["count/pods": "1"])
        // Being deleted past its grace period: no longer charged either.
        pod.status.phase = .running
        pod.metadata.deletionTimestamp = Self.now.addingTimeInterval(-60)
        pod.metadata.deletionGracePeriodSeconds = 30
        #expect(pods.usage(pod.json, now: Self.now).rendered == ["count/pods": "1"])
    }

    @Test func podRequestsCountInitContainersAndSidecarsAsKubernetesDoes() throws {
        let sidecar = #"{"name":"log","image":"busybox","restartPolicy":"Always","resources":{"requests":{"cpu":"100m"}}}"#
        let pod = try testPod(container("app", #""requests":{"cpu":"200m"}"#),
                              spec: #","initContainers":[\#(container("setup", #""requests":{"cpu":"500m"}"#)),\#(sidecar)],"overhead":{"cpu":"10m"}"#)
        // max(app + sidecar, setup) + overhead.
        #expect(PodResources.requests(pod.spec).rendered == ["cpu": "510m"])
        let late = try testPod(container("app", #""requests":{"cpu":"200m"}"#),
                               spec: #","initContainers":[\#(sidecar),\#(container("setup", #""requests":{"cpu":"500m"}"#))]"#)
        // The sidecar runs beside the later init container: max(300m, 600m).
        #expect(PodResources.requests(late.spec).rendered == ["cpu": "600m"])
    }

    @Test func podCountQuotaRefusesTheThirdPod() throws {
        // "Configure a Pod Quota for a Namespace".
        let q = quota("pod-demo", hard: ["pods": "2"], used: ["pods": "1"])
        let charged = try check([q], try testPod(container("a")))
        #expect(charged.map { $0.status.used } == [["pods": "2"]])
        #expect(refusal(charged, try testPod(container("a"))) == "exceeded quota: pod-demo, requested: pods=1, used: pods=2, limited: pods=2")
        // A quota whose status the controller has not written yet limits nothing.
        var fresh = ResourceQuota.new(namespace: "d", name: "fresh")
        fresh.spec.hard = ["pods": "0"]
        #expect(try check([fresh], try testPod(container("a"))).isEmpty)
    }

    @Test func computeQuotasNeedEveryContainerToNameTheResource() throws {
        // "Configure Memory and CPU Quotas for a Namespace".
        let q = quota("mem-cpu-demo", hard: ["requests.cpu": "1", "requests.memory": "1Gi", "limits.cpu": "2", "limits.memory": "2Gi"],
                      used: ["requests.memory": "600Mi", "requests.cpu": "400m", "limits.cpu": "800m", "limits.memory": "800Mi"])
        let second = try testPod(container("c", #""limits":{"memory":"1Gi","cpu":"800m"},"requests":{"memory":"700Mi","cpu":"400m"}"#))
        #expect(refusal([q], second) == "exceeded quota: mem-cpu-demo, requested: requests.memory=700Mi, used: requests.memory=600Mi, limited: requests.memory=1Gi")
        let bare = try testPod(container("a", #""requests":{"memory":"100Mi"}"#) + "," + container("b"))
        #expect(refusal([q], bare) == "failed quota: mem-cpu-demo: must specify limits.cpu for: a,b; limits.memory for: a,b; requests.cpu for: a,b; requests.memory for: b")
        let fits = try testPod(container("c", #""limits":{"memory":"1Gi","cpu":"800m"},"requests":{"memory":"200Mi","cpu":"400m"}"#))
        #expect(try check([q], fits).first?.status.used
                == ["requests.memory": "800Mi", "requests.cpu": "800m", "limits.cpu": "1600m", "limits.memory": "1824Mi"])
        // A second quota is charged too; the first to refuse (by name) answers.
        let tight = quota("a-tight", hard: ["pods": "1"], used: ["pods": "1"])
        #expect(refusal([q, tight], fits) == "exceeded quota: a-tight, requested: pods=1, used: pods=1, limited: pods=1")
    }

    @Test func scopesChooseWhichPodsAQuotaCounts() throws {
        let bestEffort = quota("be", hard: ["pods": "1"], used: ["pods": "1"], scopes: ["BestEffort"])
        let notBestEffort = quota("nbe", hard: ["pods": "1"], used: ["pods": "1"], scopes: ["NotBestEffort"])
        let burstable = try testPod(container("a", #""requests":{"cpu":"100m"}"#))
        let plain = try testPod(container("a"))
        #expect(refusal([bestEffort], burstable) == nil)
        #expect(refusal([bestEffort], plain) == "exceeded quota: be, requested: pods=1, used: pods=1, limited: pods=1")
        #expect(refusal([notBestEffort], plain) == nil)
        #expect(refusal([notBestEffort], burstable) != nil)
        let terminating = quota("t", hard: ["pods": "1"], used: ["pods": "1"], scopes: ["Terminating"])
        #expect(refusal([terminating], plain) == nil)
        #expect(refusal([terminating], try testPod(container("a"), spec: #","activeDeadlineSeconds":60"#)) != nil)
        #expect(refusal([quota("nt", hard: ["pods": "1"], used: ["pods": "1"], scopes: ["NotTerminating"])], plain) != nil)
    }

    @Test func priorityClassScopeSelectors() throws {
        func pod(_ cls: String?) throws -> Pod {
            try testPod(container("a"), spec: cls.map { #","priorityClassName":"\#($0)""# } ?? "")
        }
        let full = ["pods": "1"], used = ["pods": "1"]
        let inHigh = quota("in", hard: full, used: used, selector: [("PriorityClass", "In", ["high"])])
        #expect(refusal([inHigh], try pod("high")) != nil)
        #expect(refusal([inHigh], try pod("low")) == nil)
        #expect(refusal([inHigh], try pod(nil)) == nil)
        let notIn = quota("notin", hard: full, used: used, selector: [("PriorityClass", "NotIn", ["high"])])
        #expect(refusal([notIn], try pod("low")) != nil)
        #expect(refusal([notIn], try pod(nil)) != nil)
        #expect(refusal([notIn], try pod("high")) == nil)
        let exists = quota("exists", hard: full, used: used, selector: [("PriorityClass", "Exists", [])])
        #expect(refusal([exists], try pod("low")) != nil)
        #expect(refusal([exists], try pod(nil)) == nil)
        let none = quota("none", hard: full, used: used, selector: [("PriorityClass", "DoesNotExist", [])])
        #expect(refusal([none], try pod(nil)) != nil)
        #expect(refusal([none], try pod("low")) == nil)
    }

    @Test func limitedScopesNeedACoveringQuota() throws {
        let critical = try testPod(container("a"), spec: #","priorityClassName":"system-node-critical""#)
        // Skiff limits nothing by default, as kube-apiserver.
        #expect(try check([], critical).isEmpty)
        // A configuration that limits the system classes (as GKE's) wants a quota covering them.
        let limited = [QuotaAdmission.systemClassesLimit]
        #expect(throws: AdmissionRefusal(message: "insufficient quota to match these scopes: [{PriorityClass In [system-node-critical system-cluster-critical]}]", forbidden: false)) {
            try QuotaAdmission.check([], evaluator: pods, object: critical.json, old: nil, limited: limited, now: Self.now)
        }
        var covering = ResourceQuota.new(namespace: "kube-system", name: "system-critical-pods")
        covering.spec.hard = ["pods": "1G"]
        var selector = ScopeSelector()
        selector.matchExpressions = QuotaAdmission.systemClassesLimit.matchScopes
        covering.spec.scopeSelector = selector
        #expect(try QuotaAdmission.check([covering], evaluator: pods, object: critical.json, old: nil, limited: limited, now: Self.now).isEmpty)
        #expect(try QuotaAdmission.check([], evaluator: pods, object: try testPod(container("a")).json, old: nil, limited: limited, now: Self.now).isEmpty)
    }

    @Test func servicesAndClaimsAreChargedOnCreateAndByTheirGrowth() throws {
        let services = QuotaEvaluator.forResource(try #require(ResourceRegistry.lookup(groupVersion: "v1", plural: "services")))
        let q = quota("svc", hard: ["services": "5", "services.nodeports": "2", "services.loadbalancers": "0"], used: ["services": "1"])
        let nodePort = try parsed(#"{"metadata":{"name":"s","namespace":"d"},"spec":{"type":"NodePort","ports":[{"port":80},{"port":443}]}}"#)
        let charged = try QuotaAdmission.check([q], evaluator: services, object: nodePort, old: nil, now: Self.now)
        #expect(charged.first?.status.used == ["services": "2", "services.nodeports": "2", "services.loadbalancers": "0"])
        let lb = try parsed(#"{"metadata":{"name":"s","namespace":"d"},"spec":{"type":"LoadBalancer","ports":[{"port":80},{"port":443}]}}"#)
        #expect(throws: AdmissionRefusal(message: "exceeded quota: svc, requested: services.loadbalancers=1, used: services.loadbalancers=0, limited: services.loadbalancers=0")) {
            try QuotaAdmission.check(charged, evaluator: services, object: lb, old: nodePort, now: Self.now)
        }
        // Claims: storage, per class too; a resize is charged only what it adds.
        let claims = QuotaEvaluator.forResource(PersistentVolumeClaim.resource)
        let storage = quota("storage", hard: ["requests.storage": "10Gi", "gold.storageclass.storage.k8s.io/requests.storage": "3Gi",
                                              "persistentvolumeclaims": "4"],
                            used: ["requests.storage": "1Gi", "gold.storageclass.storage.k8s.io/requests.storage": "1Gi", "persistentvolumeclaims": "1"])
        func claim(_ size: String) throws -> JSONValue {
            try parsed(#"{"metadata":{"name":"c","namespace":"d"},"spec":{"storageClassName":"gold","resources":{"requests":{"storage":"\#(size)"}}}}"#)
        }
        let created = try QuotaAdmission.check([storage], evaluator: claims, object: try claim("2Gi"), old: nil, now: Self.now)
        #expect(created.first?.status.used == ["requests.storage": "3Gi", "gold.storageclass.storage.k8s.io/requests.storage": "3Gi",
                                               "persistentvolumeclaims": "2"])
        #expect(throws: AdmissionRefusal(message: "exceeded quota: storage, requested: gold.storageclass.storage.k8s.io/requests.storage=1Gi, used: gold.storageclass.storage.k8s.io/requests.storage=3Gi, limited: gold.storageclass.storage.k8s.io/requests.storage=3Gi")) {
            try QuotaAdmission.check(created, evaluator: claims, object: try claim("3Gi"), old: try claim("2Gi"), now: Self.now)
        }
        #expect(try QuotaAdmission.check(created, evaluator: claims, object: try claim("1Gi"), old: try claim("2Gi"), now: Self.now).isEmpty)
    }

    @Test func objectCountsAndTheControllersRecount() throws {
        let configMaps = QuotaEvaluator.forResource(try #require(ResourceRegistry.lookup(groupVersion: "v1", plural: "configmaps")))
        #expect(configMaps.usage(try parsed("{}"), now: Self.now).rendered == ["count/configmaps": "1", "configmaps": "1"])
        let deployments = QuotaEvaluator.forResource(try #require(ResourceRegistry.lookup(groupVersion: "apps/v1", plural: "deployments")))
        #expect(deployments.countName == "count/deployments.apps")
        // The recount: terminal pods use no compute but stay in count/pods; scoped quotas count only their pods.
        var done = try testPod(container("a", #""requests":{"cpu":"1"}"#), name: "done")
        done.status.phase = .failed
        let running = try testPod(container("a", #""requests":{"cpu":"250m"}"#), name: "running")
        let objects: (ResourceType) -> [JSONValue] = { r in
            switch r.plural {
            case "pods": return [done.json, running.json]
            case "configmaps": return [["kind": "ConfigMap"]]
            default: return []
            }
        }
        var q = quota("all", hard: ["pods": "10", "count/pods": "10", "requests.cpu": "4", "configmaps": "3", "count/deployments.apps": "1"])
        #expect(QuotaEvaluator.usage(of: q, objects: objects, now: Self.now).rendered
                == ["pods": "1", "count/pods": "2", "requests.cpu": "250m", "configmaps": "1", "count/deployments.apps": "0"])
        q = quota("be", hard: ["pods": "10"], scopes: ["BestEffort"])
        #expect(QuotaEvaluator.usage(of: q, objects: objects, now: Self.now).rendered == ["pods": "0"])
    }

    @Test func quotaValidation() throws {
        func errors(_ spec: String) throws -> [String] {
            var j = try parsed(#"{"metadata":{"name":"q"},"spec":\#(spec)}"#)
            GovernanceRules.resourceQuota.applyDefaults(&j)
            return GovernanceRules.resourceQuota.validate(j).map(\.description)
        }
        #expect(try errors(#"{"hard":{"pods":10,"requests.cpu":"1","count/deployments.apps":"2"}}"#) == [])
        #expect(try errors(#"{"hard":{"pods":"lots"}}"#)
                == [#"spec.hard[pods]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"#])
        #expect(try errors(#"{"hard":{"pods":"-1"}}"#) == [#"spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0"#])
        #expect(try errors(#"{"hard":{"pods":"1500m"}}"#) == [#"spec.hard[pods]: Invalid value: "1500m": must be an integer"#])
        #expect(try errors(#"{"hard":{"gpus":"1"}}"#) == [#"spec.hard[gpus]: Invalid value: "gpus": must be a standard resource type or fully qualified"#,
                                                            #"spec.hard[gpus]: Invalid value: "gpus": must be a standard resource for quota"#])
        #expect(try errors(#"{"hard":{"services":"1"},"scopes":["BestEffort"]}"#)
                == [#"spec.scopes: Invalid value: []string{"BestEffort"}: unsupported scope applied to resource"#])
        #expect(try errors(#"{"hard":{"pods":"1"},"scopes":["Terminating","NotTerminating"]}"#)
                == [#"spec.scopes: Invalid value: []string{"Terminating", "NotTerminating"}: conflicting scopes"#])
        #expect(try errors(#"{"hard":{"pods":"1"},"scopeSelector":{"matchExpressions":[{"scopeName":"PriorityClass","operator":"In"}]}}"#)
                == ["spec.scopeSelector.matchExpressions.values: Required value: must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"])
        let numeric = try parsed(#"{"metadata":{"name":"q"},"spec":{"hard":{"pods":10}}}"#)
        var normalised = numeric
        GovernanceRules.resourceQuota.applyDefaults(&normalised)
        #expect(ResourceQuota(json: normalised).spec.json["hard"] == ["pods": "10"])
        // Scopes may not change.
        let was = try parsed(#"{"spec":{"hard":{"pods":"1"},"scopes":["BestEffort"]}}"#)
        #expect(GovernanceRules.resourceQuota.validateUpdate(numeric, was).map(\.description)
                == [#"spec.scopes: Invalid value: []string{}: field is immutable"#])
    }

    // MARK: Priority

    @Test func podsGetTheirClassPriority() throws {
        var high = PriorityClass.new(name: "high")
        high.value = 1000
        high.preemptionPolicy = "Never"
        var low = PriorityClass.new(name: "low")
        low.value = 10
        low.globalDefault = true
        low.preemptionPolicy = "PreemptLowerPriority"
        var pod = try testPod(container("a"), spec: #","priorityClassName":"high""#)
        try PriorityAdmission.admit(&pod, classes: [high, low])
        #expect(pod.spec.priority == 1000 && pod.spec.preemptionPolicy == "Never")
        var plain = try testPod(container("a"))
        try PriorityAdmission.admit(&plain, classes: [high, low])
        #expect(plain.spec.priorityClassName == "low" && plain.spec.priority == 10)
        var none = try testPod(container("a"))
        try PriorityAdmission.admit(&none, classes: [])
        #expect(none.spec.priority == 0 && none.spec.preemptionPolicy == "PreemptLowerPriority" && none.spec.priorityClassName == nil)
        var unknown = try testPod(container("a"), spec: #","priorityClassName":"nope""#)
        #expect(throws: AdmissionRefusal(message: "no PriorityClass with name nope was found")) { try PriorityAdmission.admit(&unknown, classes: [high]) }
        var pinned = try testPod(container("a"), spec: #","priorityClassName":"high","priority":5"#)
        #expect(throws: AdmissionRefusal(message: "the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name")) {
            try PriorityAdmission.admit(&pinned, classes: [high])
        }
        var other = PriorityClass.new(name: "other")
        other.globalDefault = true
        #expect(throws: AdmissionRefusal(message: "PriorityClass low is already marked as default. Only one default can exist")) {
            try PriorityAdmission.checkDefault(other, existing: [high, low])
        }
        try PriorityAdmission.checkDefault(low, existing: [high, low])   // (the default itself may be updated)
    }

    @Test func priorityClassValidation() throws {
        func errors(_ json: String) throws -> [String] {
            var j = try parsed(json)
            GovernanceRules.priorityClass.applyDefaults(&j)
            return GovernanceRules.priorityClass.validate(j).map(\.description)
        }
        #expect(try errors(#"{"metadata":{"name":"high"},"value":1000}"#) == [])
        #expect(try errors(#"{"metadata":{"name":"huge"},"value":1000000001}"#)
                == ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"])
        #expect(try errors(#"{"metadata":{"name":"system-mine"},"value":1}"#)
                == ["metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"])
        #expect(try errors(#"{"metadata":{"name":"x"},"value":1,"preemptionPolicy":"Sometimes"}"#)
                == [#"preemptionPolicy: Unsupported value: "Sometimes": supported values: "Never", "PreemptLowerPriority""#])
        for system in GovernanceRules.systemPriorityClasses { #expect(try errors(system.json.jsonString) == []) }
        let old = try parsed(#"{"metadata":{"name":"high"},"value":1000,"preemptionPolicy":"PreemptLowerPriority"}"#)
        let changed = try parsed(#"{"metadata":{"name":"high"},"value":2000,"preemptionPolicy":"PreemptLowerPriority"}"#)
        #expect(GovernanceRules.priorityClass.validateUpdate(changed, old).map(\.description) == ["value: Forbidden: may not be changed in an update."])
    }

    @Test func qosClassesAsKubernetesComputesThem() throws {
        #expect(PodRules.qosClass(try testPod(container("a")).spec.json) == "BestEffort")
        #expect(PodRules.qosClass(try testPod(container("a", #""requests":{"ephemeral-storage":"1Gi"}"#)).spec.json) == "BestEffort")
        #expect(PodRules.qosClass(try testPod(container("a", #""limits":{"cpu":"1","memory":"1Gi"}"#)).spec.json) == "Guaranteed")
        #expect(PodRules.qosClass(try testPod(container("a", #""limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"500m"}"#)).spec.json) == "Burstable")
        #expect(PodRules.qosClass(try testPod(container("a", #""limits":{"cpu":"1"}"#)).spec.json) == "Burstable")
    }
}
