// pods/eviction and PodDisruptionBudgets against a real `skiff master` without controllers: the
// budgets' status is written by hand (as the disruption controller would), pods are made Running
// and Ready through their status subresource, and evictions get Kubernetes' codes and messages.
// Then kubectl 1.33 and 1.27 create and list budgets and drain a node object.
import API
import Client
import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct EvictionTests {
    static let pods = "/api/v1/namespaces/default/pods"
    static let budgets = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"

    /// A pod labelled app=web (on `node` when given), Running and Ready unless told otherwise.
    func pod(_ c: TestClient, _ name: String, node: String? = nil, phase: String = "Running", ready: Bool = true) throws {
        let nodeName = node.map { #","nodeName":"\#($0)""# } ?? ""
        let created = try c.post(Self.pods, #"{"metadata":{"name":"\#(name)","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox"}]\#(nodeName)}}"#)
        #expect(created.code == 201, "\(created.errorMessage)")
        let status = #"{"status":{"phase":"\#(phase)","conditions":[{"type":"Ready","status":"\#(ready ? "True" : "False")"}]}}"#
        #expect(try c.patch(Self.pods + "/\(name)/status", status).code == 200)
    }

    /// A budget over app=web with the status the controller would have written.
    func budget(_ c: TestClient, _ name: String, spec: String = #""minAvailable":2"#, allowed: Int, current: Int = 3, desired: Int = 2,
                observed: Int = 1) throws {
        let created = try c.post(Self.budgets, #"{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"\#(name)"},"spec":{\#(spec),"selector":{"matchLabels":{"app":"web"}}}}"#)
        #expect(created.code == 201, "\(created.errorMessage)")
        try setStatus(c, name, allowed: allowed, current: current, desired: desired, observed: observed)
    }

    func setStatus(_ c: TestClient, _ name: String, allowed: Int, current: Int = 3, desired: Int = 2, observed: Int = 1) throws {
        let status = #"{"status":{"observedGeneration":\#(observed),"disruptionsAllowed":\#(allowed),"currentHealthy":\#(current),"desiredHealthy":\#(desired),"expectedPods":3}}"#
        let r = try c.patch(Self.budgets + "/\(name)/status", status)
        #expect(r.code == 200, "\(r.errorMessage)")
    }

    func evict(_ c: TestClient, _ name: String, options: String = "", query: String = "") throws -> HTTPResponse {
        let opts = options.isEmpty ? "" : #","deleteOptions":\#(options)"#
        return try c.post(Self.pods + "/\(name)/eviction" + query, #"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"\#(name)"}\#(opts)}"#)
    }

    @Test func evictionsHonourTheBudget() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client

        // Discovery shows the subresource as kubectl drain looks for it.
        let resources = try c.get("/api/v1").json["resources"]?.arrayValue ?? []
        let eviction = try #require(resources.first { $0["name"] == "pods/eviction" })
        #expect(eviction["kind"] == "Eviction" && eviction["group"] == "policy" && eviction["version"] == "v1" && eviction["verbs"] == ["create"])
        let policy = try c.get("/apis/policy/v1").json["resources"]?.arrayValue ?? []
        #expect(policy.contains { $0["name"] == "poddisruptionbudgets" && $0["shortNames"] == ["pdb"] && $0["namespaced"] == true })

        // No budget: a plain delete, answered with a Success Status.
        try pod(c, "solo")
        var r = try evict(c, "solo")
        #expect(r.code == 201 && r.json["kind"] == "Status" && r.json["status"] == "Success" && r.json["code"] == 201)
        #expect(try c.get(Self.pods + "/solo").code == 404)

        // A budget with one disruption left: the first eviction takes it, the second is refused.
        for name in ["web-a", "web-b", "web-c"] { try pod(c, name, node: "node-1") }
        try budget(c, "web", allowed: 1)
        r = try evict(c, "web-a", options: #"{"gracePeriodSeconds":7}"#)
        #expect(r.code == 201, "\(r.errorMessage)")
        let evicted = try c.get(Self.pods + "/web-a").json   // bound to a node: graceful, with the eviction's grace period
        #expect(evicted.value(at: "metadata.deletionGracePeriodSeconds") == 7)
        let target = evicted.value(at: "status.conditions")?.arrayValue?.first { $0["type"] == "DisruptionTarget" }
        #expect(target?["status"] == "True" && target?["reason"] == "EvictionByEvictionAPI" && target?["message"] == "Eviction API: evicting")
        var pdb = PodDisruptionBudget(json: try c.get(Self.budgets + "/web").json)
        #expect(pdb.status.disruptionsAllowed == 0 && pdb.status.disruptedPods?.keys.sorted() == ["web-a"])
        #expect(pdb.status.conditions.first { $0.type == "DisruptionAllowed" }?.reason == "InsufficientPods")

        r = try evict(c, "web-b")
        #expect(r.code == 429)
        #expect(r.json["reason"] == "TooManyRequests" && r.json["message"] == "Cannot evict pod as it would violate the pod's disruption budget.")
        let cause = r.json.value(at: "details.causes")?.arrayValue?.first
        #expect(cause?["reason"] == "DisruptionBudget" && cause?["message"] == "The disruption budget web needs 2 healthy pods and has 3 currently")
        #expect(try c.get(Self.pods + "/web-b").json.value(at: "metadata.deletionTimestamp") == nil)

        // The same as a protobuf body (what typed clients may send), in policy/v1beta1.
        let proto = try APIClient(server: c.server).request("POST", Self.pods + "/web-b/eviction", body: Self.protobufEviction("web-b"),
                                                            contentType: "application/vnd.kubernetes.protobuf")
        #expect(proto.code == 429, "\(proto.errorMessage)")

        // Dry run: allowed, and nothing changes.
        try setStatus(c, "web", allowed: 1)
        r = try evict(c, "web-b", options: #"{"dryRun":["All"]}"#)
        #expect(r.code == 201)
        #expect(try c.get(Self.pods + "/web-b").json.value(at: "metadata.deletionTimestamp") == nil)
        #expect(PodDisruptionBudget(json: try c.get(Self.budgets + "/web").json).status.disruptionsAllowed == 1)

        // A budget its controller has not seen since the spec changed: retry later.
        try setStatus(c, "web", allowed: 1, observed: 0)
        r = try evict(c, "web-b")
        #expect(r.code == 429 && r.json.value(at: "details.causes")?.arrayValue?.first?["message"] == "The disruption budget web is still being processed by the server.")
        #expect(r.json.value(at: "details.retryAfterSeconds") == 10)

        // Two budgets over one pod: the subresource cannot choose.
        try budget(c, "web-too", spec: #""maxUnavailable":1"#, allowed: 1)
        r = try evict(c, "web-b")
        #expect(r.code == 500 && r.json["message"] == "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
        #expect(try c.delete(Self.budgets + "/web-too").code == 200)

        // Not Ready and the budget is met: evicted without taking a disruption.
        try setStatus(c, "web", allowed: 0)
        #expect(try c.patch(Self.pods + "/web-c/status", #"{"status":{"conditions":[{"type":"Ready","status":"False"}]}}"#).code == 200)
        r = try evict(c, "web-c")
        #expect(r.code == 201, "\(r.errorMessage)")
        #expect(try c.get(Self.pods + "/web-c").json.value(at: "metadata.deletionTimestamp") != nil)
        #expect(PodDisruptionBudget(json: try c.get(Self.budgets + "/web").json).status.disruptionsAllowed == 0)

        // Pending and finished pods go whatever the budget says.
        try pod(c, "web-pending", phase: "Pending", ready: false)
        try pod(c, "web-done", phase: "Succeeded", ready: false)
        #expect(try evict(c, "web-pending").code == 201)
        #expect(try evict(c, "web-done").code == 201)
        #expect(try c.get(Self.pods + "/web-pending").code == 404)
        #expect(try c.get(Self.pods + "/web-done").code == 404)

        // Bad requests.
        #expect(try c.post(Self.pods + "/web-b/eviction", #"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"other"}}"#).code == 400)
        #expect(try c.post(Self.pods + "/web-b/eviction", #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-b"}}"#).code == 400)
        #expect(try evict(c, "missing").code == 404)
        #expect(try c.get(Self.pods + "/web-b/eviction").code == 405)
        pdb = PodDisruptionBudget(json: try c.get(Self.budgets + "/web").json)
        #expect(pdb.status.currentHealthy == 3)
    }

    @Test func unhealthyPodsAndAlwaysAllow() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        try pod(c, "sick", ready: false)
        // The budget is not met (0 of 2 healthy): IfHealthyBudget keeps the unready pod...
        try budget(c, "web", allowed: 0, current: 0, desired: 2)
        #expect(try evict(c, "sick").code == 429)
        // ...AlwaysAllow lets it go without taking a disruption.
        #expect(try c.patch(Self.budgets + "/web", #"{"spec":{"unhealthyPodEvictionPolicy":"AlwaysAllow"}}"#).code == 200)
        try setStatus(c, "web", allowed: 0, current: 0, desired: 2, observed: 2)
        #expect(try evict(c, "sick").code == 201)
        #expect(try c.get(Self.pods + "/sick").code == 404)

        // Validation: both bounds set is a 422 on spec.
        let both = try c.post(Self.budgets, #"{"metadata":{"name":"both"},"spec":{"minAvailable":1,"maxUnavailable":1}}"#)
        #expect(both.code == 422)
        #expect(both.json.value(at: "details.causes")?.arrayValue?.first?["field"] == "spec")
        #expect(both.errorMessage.contains("minAvailable and maxUnavailable cannot be both set"))
        // Spec changes bump the generation the controller must observe.
        #expect(PodDisruptionBudget(json: try c.get(Self.budgets + "/web").json).metadata.generation == 2)
    }

    /// 1.33 sends the budget as protobuf (its evictions as JSON), 1.27 everything as JSON.
    @Test(arguments: ["1.33", "1.27"])
    func kubectlCreatesListsAndDrains(version: String) throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let k = try Kubectl(version: version, master: m)
        defer { try? FileManager.default.removeItem(atPath: k.cacheDir) }
        let c = m.client
        #expect(try k.ok("create", "pdb", "web", "--selector=app=web", "--min-available=2").contains("poddisruptionbudget.policy/web created"))
        #expect(try k.ok("create", "pdb", "pct", "--selector=app=db", "--max-unavailable=25%").contains("created"))
        let table = try k.ok("get", "pdb")
        let lines = table.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(lines.first == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"])
        #expect(lines.dropFirst().map { Array($0.prefix(4)) } == [["pct", "N/A", "25%", "0"], ["web", "2", "N/A", "0"]])
        let both = try k.runArgs(["create", "pdb", "both", "--selector=app=x", "--min-available=1", "--max-unavailable=1"])
        #expect(both.status != 0)   // kubectl refuses this itself; the server's 422 is tested above

        // A node object and two pods on it (no agent: a grace-0 eviction deletes at once).
        #expect(try c.post("/api/v1/nodes", #"{"metadata":{"name":"n1"}}"#).code == 201)
        for name in ["web-1", "web-2"] { try pod(c, name, node: "n1") }
        try setStatus(c, "web", allowed: 0, current: 2, desired: 2)
        let refused = try k.runArgs(["drain", "n1", "--force", "--grace-period=0", "--timeout=7s"])
        #expect(refused.status != 0)
        #expect(refused.out.contains("node/n1 cordoned"))
        #expect(refused.err.contains("Cannot evict pod as it would violate the pod's disruption budget."), "\(refused.err)")
        #expect(try c.get("/api/v1/nodes/n1").json.value(at: "spec.unschedulable") == true)
        #expect(try k.ok("get", "node", "n1").contains("SchedulingDisabled"))

        try setStatus(c, "web", allowed: 2, current: 2, desired: 0)
        let drained = try k.runArgs(["drain", "n1", "--force", "--grace-period=0", "--timeout=30s"])
        #expect(drained.status == 0, "\(drained.err)")
        #expect(drained.out.contains("pod/web-1 evicted") && drained.out.contains("node/n1 drained"), "\(drained.out)")
        #expect(try c.get(Self.pods + "/web-1").code == 404 && c.get(Self.pods + "/web-2").code == 404)
        #expect(try k.ok("uncordon", "n1").contains("node/n1 uncordoned"))
        #expect(try c.get("/api/v1/nodes/n1").json.value(at: "spec.unschedulable") == nil)
    }

    /// A policy/v1beta1 Eviction as protobuf: "k8s\0" + Unknown{typeMeta, raw: Eviction{metadata{name}}}.
    static func protobufEviction(_ name: String) -> [UInt8] {
        func field(_ n: UInt8, _ bytes: [UInt8]) -> [UInt8] { [n << 3 | 2, UInt8(bytes.count)] + bytes }
        let typeMeta = field(1, Array("policy/v1beta1".utf8)) + field(2, Array("Eviction".utf8))
        let eviction = field(1, field(1, Array(name.utf8)) + field(3, Array("default".utf8)))
        return [0x6b, 0x38, 0x73, 0x00] + field(1, typeMeta) + field(2, eviction)
    }
}
