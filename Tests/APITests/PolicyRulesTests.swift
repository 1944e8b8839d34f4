// PodDisruptionBudget validation as Kubernetes words it (422 causes), what a budget selects, and
// the DisruptionAllowed condition the controller and the eviction subresource both set.
import API
import Foundation
import Testing

@Suite struct PolicyRulesTests {
    func errors(_ json: String) throws -> [FieldError] {
        var obj = try JSONValue.parse(json)
        let s = ResourceStrategy.forKind("PodDisruptionBudget")
        s.applyDefaults(&obj)
        return s.validate(obj)
    }

    @Test func validBudgets() throws {
        #expect(try errors(#"{"spec":{"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}}}"#).isEmpty)
        #expect(try errors(#"{"spec":{"maxUnavailable":"25%","selector":{}}}"#).isEmpty)
        #expect(try errors(#"{"spec":{"minAvailable":"100%","unhealthyPodEvictionPolicy":"AlwaysAllow"}}"#).isEmpty)
        #expect(try errors(#"{"spec":{"maxUnavailable":0,"unhealthyPodEvictionPolicy":"IfHealthyBudget"}}"#).isEmpty)
        let s = ResourceStrategy.forKind("PodDisruptionBudget")
        #expect(s.hasStatus && s.tracksGeneration)
    }

    @Test func bothSetIsRefusedOnSpec() throws {
        let errs = try errors(#"{"spec":{"minAvailable":1,"maxUnavailable":1}}"#)
        #expect(errs.count == 1)
        #expect(errs.first?.field == "spec")
        #expect(errs.first?.kind == .invalid)
        #expect(errs.first?.detail == "minAvailable and maxUnavailable cannot be both set")
        let status = Status.invalid(group: "policy", kind: "PodDisruptionBudget", name: "web", errors: errs)
        #expect(status.code == 422 && status.message?.hasSuffix(": minAvailable and maxUnavailable cannot be both set") == true)
    }

    @Test func valuesAreNumbersOrPercentages() throws {
        let descriptions = { (json: String) in try self.errors(json).map(\.description) }
        #expect(try descriptions(#"{"spec":{"minAvailable":-1}}"#) == ["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"])
        #expect(try descriptions(#"{"spec":{"maxUnavailable":"150%"}}"#) == [#"spec.maxUnavailable: Invalid value: "150%": must not be greater than 100%"#])
        let half = try descriptions(#"{"spec":{"minAvailable":"half"}}"#)
        #expect(half.count == 1 && half[0].hasPrefix(#"spec.minAvailable: Invalid value: "half": a valid percent string must be a numeric string followed by an ending '%'"#))
        #expect(try errors(#"{"spec":{"minAvailable":"+5%"}}"#).count == 1)
        #expect(try errors(#"{"spec":{"minAvailable":true}}"#).first?.detail == "must be an integer or percentage (e.g '5%')")
    }

    @Test func selectorPolicyAndStatus() throws {
        let bad = try errors(#"{"spec":{"minAvailable":1,"selector":{"matchLabels":{"a b":"x"},"matchExpressions":[{"key":"k","operator":"Near"}]}}}"#)
        #expect(bad.map(\.field) == ["spec.selector.matchLabels", "spec.selector.matchExpressions[0].operator"])
        let policy = try errors(#"{"spec":{"minAvailable":1,"unhealthyPodEvictionPolicy":"Sometimes"}}"#).map(\.description)
        #expect(policy == [#"spec.unhealthyPodEvictionPolicy: Unsupported value: "Sometimes": supported values: "AlwaysAllow", "IfHealthyBudget""#])
        let status = try errors(#"{"spec":{"minAvailable":1},"status":{"disruptionsAllowed":-1,"currentHealthy":2}}"#)
        #expect(status.map(\.field) == ["status.disruptionsAllowed"])
    }

    @Test func whatABudgetSelects() throws {
        var pdb = PodDisruptionBudget.new(namespace: "default", name: "web")
        #expect(PolicyRules.selector(pdb) == nil)                  // no selector: no pods
        pdb.spec.json["selector"] = .object(JSONObject())
        #expect(PolicyRules.selector(pdb)?.requirements.isEmpty == true)   // {}: every pod
        pdb.spec.selector.matchLabels = ["app": "web"]
        #expect(PolicyRules.selector(pdb)?.matches(["app": "web", "x": "y"]) == true)
        #expect(PolicyRules.selector(pdb)?.matches(["app": "db"]) == false)
    }

    @Test func disruptionAllowedCondition() throws {
        var status = PodDisruptionBudgetStatus()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        status.observedGeneration = 3
        status.disruptionsAllowed = 1
        status.updateDisruptionAllowedCondition(now: t0)
        var c = try #require(status.conditions.first)
        #expect(c.type == "DisruptionAllowed" && c.status == .true && c.reason == "SufficientPods" && c.observedGeneration == 3)
        #expect(c.lastTransitionTime == t0 && c.message == "")
        // Same status later: the transition time stays.
        status.updateDisruptionAllowedCondition(now: t0.addingTimeInterval(60))
        #expect(status.conditions.first?.lastTransitionTime == t0)
        status.disruptionsAllowed = 0
        status.updateDisruptionAllowedCondition(now: t0.addingTimeInterval(120))
        c = try #require(status.conditions.first)
        #expect(status.conditions.count == 1 && c.status == .false && c.reason == "InsufficientPods" && c.lastTransitionTime == t0.addingTimeInterval(120))
        // disruptedPods round-trips as RFC 3339 times.
        status.disruptedPods = ["a": t0]
        #expect(status.json["disruptedPods"] == ["a": "2027-01-15T08:00:00Z"])
        #expect(status.disruptedPods == ["a": t0])
    }
}
