// LimitRange rules and the LimitRanger admission's decisions, on the cases Kubernetes' own
// docs walk through (default requests and limits, min/max constraints, ratios, claims), and
// the LimitRange's 422 field errors.
import API
import Testing

func parsed(_ json: String) throws -> JSONValue { try JSONValue.parse(json) }

/// A defaulted pod (as the API server holds it before admission) with these containers.
func testPod(_ containers: String, spec extra: String = "", name: String = "p") throws -> Pod {
    var j = try parsed(#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"\#(name)","namespace":"d"},"spec":{"containers":[\#(containers)]\#(extra)}}"#)
    PodRules.strategy.applyDefaults(&j)
    return Pod(json: j)
}

/// A container named `name` with these resources (a JSON object's body).
func container(_ name: String, _ resources: String = "") -> String {
    #"{"name":"\#(name)","image":"busybox","resources":{\#(resources)}}"#
}

@Suite struct LimitRangerTests {
    func limitRange(_ items: String) throws -> LimitRange {
        var j = try parsed(#"{"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"lr","namespace":"d"},"spec":{"limits":[\#(items)]}}"#)
        GovernanceRules.limitRange.applyDefaults(&j)
        #expect(GovernanceRules.limitRange.validate(j).map(\.description) == [])
        return LimitRange(json: j)
    }

    func errors(_ items: String) throws -> [String] {
        var j = try parsed(#"{"metadata":{"name":"lr"},"spec":{"limits":[\#(items)]}}"#)
        GovernanceRules.limitRange.applyDefaults(&j)
        return GovernanceRules.limitRange.validate(j).map(\.description)
    }

    func admitted(_ pod: Pod, _ lr: LimitRange) -> Pod {
        var p = pod
        LimitRanger.applyDefaults(&p, lr)
        return p
    }

    @Test func defaultRequestsAndLimitsFillOnlyWhatIsMissing() throws {
        // "Configure Default Memory Requests and Limits for a Namespace".
        let lr = try limitRange(#"{"type":"Container","default":{"memory":"512Mi"},"defaultRequest":{"memory":"256Mi"}}"#)
        let bare = admitted(try testPod(container("a")), lr)
        #expect(bare.spec.containers[0].resources.requests == ["memory": "256Mi"])
        #expect(bare.spec.containers[0].resources.limits == ["memory": "512Mi"])
        #expect(bare.metadata.annotations?[LimitRanger.annotation] == "LimitRanger plugin set: memory request for container a; memory limit for container a")
        // A limit only: the request already defaulted to it; nothing else changes.
        let limited = admitted(try testPod(container("a", #""limits":{"memory":"1Gi"}"#)), lr)
        #expect(limited.spec.containers[0].resources.requests == ["memory": "1Gi"])
        #expect(limited.spec.containers[0].resources.limits == ["memory": "1Gi"])
        #expect(limited.metadata.annotations?[LimitRanger.annotation] == nil)
        // A request only: the default limit is added (init containers too).
        let requested = admitted(try testPod(container("a", #""requests":{"memory":"128Mi"}"#), spec: #","initContainers":[\#(container("setup"))]"#), lr)
        #expect(requested.spec.containers[0].resources.requests == ["memory": "128Mi"])
        #expect(requested.spec.containers[0].resources.limits == ["memory": "512Mi"])
        #expect(requested.spec.initContainers[0].resources.limits == ["memory": "512Mi"])
        #expect(requested.metadata.annotations?[LimitRanger.annotation]
                == "LimitRanger plugin set: memory limit for container a; memory request for init container setup; memory limit for init container setup")
    }

    @Test func limitRangeItemsDefaultFromMaxAndMin() throws {
        // Only bounds: the default limit is the max, the default request the default limit (or the min).
        let lr = try limitRange(#"{"type":"Container","max":{"cpu":"800m"},"min":{"cpu":"200m","memory":"64Mi"}}"#)
        let item = lr.spec.limits[0]
        #expect(item.defaultLimits == ["cpu": "800m"])
        #expect(item.defaultRequest == ["cpu": "800m", "memory": "64Mi"])
        let pod = admitted(try testPod(container("a")), lr)
        #expect(pod.spec.containers[0].resources.limits == ["cpu": "800m"])
        #expect(pod.spec.containers[0].resources.requests == ["cpu": "800m", "memory": "64Mi"])
        #expect(LimitRanger.podViolations(pod, lr) == [])
        // Numbers are stored as quantity text, and Pod items get no defaults.
        let numeric = try limitRange(#"{"type":"Pod","max":{"cpu":2}}"#)
        #expect(numeric.spec.limits[0].max == ["cpu": "2"])
        #expect(numeric.spec.limits[0].defaultLimits == nil)
    }

    @Test func minAndMaxAreEnforcedWithKubernetesMessages() throws {
        // "Configure Minimum and Maximum CPU Constraints for a Namespace".
        let lr = try limitRange(#"{"type":"Container","max":{"cpu":"800m"},"min":{"cpu":"200m"}}"#)
        let ok = try testPod(container("a", #""limits":{"cpu":"800m"},"requests":{"cpu":"500m"}"#))
        #expect(LimitRanger.podViolations(ok, lr) == [])
        let over = try testPod(container("a", #""limits":{"cpu":"1.5"},"requests":{"cpu":"500m"}"#))
        #expect(LimitRanger.podViolations(over, lr) == ["maximum cpu usage per Container is 800m, but limit is 1500m"])
        let under = try testPod(container("a", #""limits":{"cpu":"800m"},"requests":{"cpu":"100m"}"#))
        #expect(LimitRanger.podViolations(under, lr) == ["minimum cpu usage per Container is 200m, but request is 100m"])
        // Without defaults nothing is filled in: the bounds ask for what is missing.
        let raw = LimitRange(json: try parsed(#"{"spec":{"limits":[{"type":"Container","max":{"memory":"1Gi"},"min":{"memory":"500Mi"}}]}}"#))
        #expect(LimitRanger.podViolations(try testPod(container("a")), raw)
                == ["minimum memory usage per Container is 500Mi.  No request is specified", "maximum memory usage per Container is 1Gi.  No limit is specified"])
        #expect(LimitRanger.message(LimitRanger.podViolations(try testPod(container("a")), raw))
                == "[minimum memory usage per Container is 500Mi.  No request is specified, maximum memory usage per Container is 1Gi.  No limit is specified]")
    }

    @Test func podItemsBoundTheSumOfContainersAndTheLargestInitContainer() throws {
        let lr = try limitRange(#"{"type":"Pod","max":{"memory":"1Gi"}}"#)
        let two = try testPod(container("a", #""limits":{"memory":"600Mi"}"#) + "," + container("b", #""limits":{"memory":"600Mi"}"#))
        #expect(LimitRanger.podViolations(two, lr) == ["maximum memory usage per Pod is 1Gi, but limit is 1200Mi"])
        let withInit = try testPod(container("a", #""limits":{"memory":"100Mi"}"#),
                                   spec: #","initContainers":[\#(container("i", #""limits":{"memory":"2Gi"}"#))]"#)
        #expect(LimitRanger.podViolations(withInit, lr) == ["maximum memory usage per Pod is 1Gi, but limit is 2Gi"])
        // A container without the limit means the pod has none to bound.
        let open = try testPod(container("a", #""limits":{"memory":"600Mi"}"#) + "," + container("b"))
        #expect(LimitRanger.podViolations(open, lr) == ["maximum memory usage per Pod is 1Gi.  No limit is specified"])
    }

    @Test func limitToRequestRatio() throws {
        let lr = try limitRange(#"{"type":"Container","maxLimitRequestRatio":{"memory":"2"}}"#)
        #expect(LimitRanger.podViolations(try testPod(container("a", #""limits":{"memory":"200Mi"},"requests":{"memory":"100Mi"}"#)), lr) == [])
        let wide = try testPod(container("a", #""limits":{"memory":"250Mi"},"requests":{"memory":"100Mi"}"#))
        #expect(LimitRanger.podViolations(wide, lr) == ["memory max limit to request ratio per Container is 2, but provided ratio is 2.500000"])
        let unset = try testPod(container("a"))
        #expect(LimitRanger.podViolations(unset, lr)
                == ["memory max limit to request ratio per Container is 2, but no request is specified or request is 0"])
    }

    @Test func claimsAreBoundedByTheirStorageRequest() throws {
        let lr = try limitRange(#"{"type":"PersistentVolumeClaim","min":{"storage":"1Gi"},"max":{"storage":"2Gi"}}"#)
        func claim(_ size: String) throws -> PersistentVolumeClaim {
            PersistentVolumeClaim(json: try parsed(#"{"metadata":{"name":"c"},"spec":{"resources":{"requests":{"storage":"\#(size)"}}}}"#))
        }
        #expect(LimitRanger.claimViolations(try claim("1500Mi"), lr) == [])
        #expect(LimitRanger.claimViolations(try claim("3Gi"), lr) == ["maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 3Gi"])
        #expect(LimitRanger.claimViolations(try claim("500Mi"), lr) == ["minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"])
    }

    @Test func invalidLimitRangesAreRefusedWithFieldErrors() throws {
        #expect(try errors(#"{"type":"Container","min":{"cpu":"2"},"max":{"cpu":"1"}}"#)
                .contains(#"spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1"#))
        #expect(try errors(#"{"type":"Container","default":{"cpu":"500m"},"defaultRequest":{"cpu":"1"}}"#)
                == [#"spec.limits[0].defaultRequest[cpu]: Invalid value: "1": default request value 1 is greater than default limit value 500m"#])
        #expect(try errors(#"{"type":"Container","maxLimitRequestRatio":{"cpu":"500m"}}"#)
                == [#"spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: "500m": ratio 500m is less than 1"#])
        #expect(try errors(#"{"type":"Container","min":{"cpu":"1"},"max":{"cpu":"2"},"maxLimitRequestRatio":{"cpu":"3"}}"#)
                == [#"spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: "3": ratio 3 is greater than max/min = 2.000000"#])
        #expect(try errors(#"{"type":"Pod","default":{"cpu":"1"}}"#) == ["spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'"])
        #expect(try errors(#"{"type":"PersistentVolumeClaim","default":{"storage":"1Gi"}}"#)
                == ["spec.limits[0].limits: Required value: either minimum or maximum storage value is required, but neither was provided"])
        #expect(try errors(#"{"type":"Bucket","max":{"cpu":"1"}}"#) == [#"spec.limits[0].type: Invalid value: "Bucket": must be a standard limit type or fully qualified"#])
        #expect(try errors(#"{"type":"Container","max":{"cpu":"1"}},{"type":"Container","max":{"cpu":"2"}}"#)
                == [#"spec.limits[1].type: Duplicate value: "Container""#])
        #expect(try errors(#"{"type":"Container","max":{"cpu":"lots"}}"#)
                == [#"spec.limits[0].max[cpu]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"#])
        #expect(try errors(#"{"type":"Container","max":{"gpus":"1"}}"#)
                .contains(#"spec.limits[0].max[gpus]: Invalid value: "gpus": must be a standard resource for containers"#))
    }
}
