// metrics.k8s.io/v1beta1 from the master's pipeline, scraping fake node servers over HTTP:
// discovery, metrics-server's JSON shapes, selectors, errors; the typed client the HPA reads
// through; a dead or hung node leaving the others' numbers alone; APIService; RBAC.
import API
import Client
import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct MetricsAPITests {
    static let group = "/apis/metrics.k8s.io/v1beta1"

    /// Waits until the namespace's pod metrics list `count` items (two scrapes a resolution apart).
    static func waitForPodMetrics(_ c: TestClient, namespace: String, count: Int) -> Bool {
        TestEnv.eventually(15) { ((try? c.get("\(group)/namespaces/\(namespace)/pods").json["items"]?.arrayValue?.count) ?? 0) == count }
    }

    @Test func shapesSelectorsAndErrors() throws {
        let m = try MasterProcess(extraArgs: ["--metric-resolution", "1s"])
        defer { m.stop() }
        let c = m.client
        let node = try FakeStatsNode(master: m, pods: 3)
        defer { node.stop() }
        let ns = node.namespace

        // Discovery: the group, its version, its two read-only resources (as metrics-server lists them).
        let groups = try c.get("/apis").json["groups"]?.arrayValue ?? []
        #expect(groups.contains { $0["name"] == "metrics.k8s.io" && $0.value(at: "preferredVersion.groupVersion") == "metrics.k8s.io/v1beta1" })
        let resources = try c.get(Self.group).json["resources"]?.arrayValue ?? []
        #expect(resources.map { $0["name"]?.stringValue ?? "" } == ["nodes", "pods"])
        #expect(resources.allSatisfy { $0["verbs"] == ["get", "list"] && $0["singularName"] == "" })
        #expect(resources.map { $0["kind"]?.stringValue ?? "" } == ["NodeMetrics", "PodMetrics"])

        #expect(Self.waitForPodMetrics(c, namespace: ns, count: 3))
        let nodeMetrics = try c.get("\(Self.group)/nodes/\(node.name)")
        #expect(nodeMetrics.code == 200)
        let nm = NodeMetrics(json: nodeMetrics.json)
        #expect(nm.json["kind"] == "NodeMetrics" && nm.json["apiVersion"] == "metrics.k8s.io/v1beta1")
        #expect(nm.metadata.labels?["metrics-test"] == "yes" && nm.metadata.creationTimestamp != nil)
        #expect(nm.timestamp.map { abs($0.timeIntervalSinceNow) < 10 } == true)
        let window = nm.window.flatMap(GoDuration.parse) ?? 0
        #expect(window > 500_000_000 && window < 3_000_000_000, "about one resolution: \(nm.window ?? "")")
        let cpu = try Quantity(parsing: nm.usage?["cpu"] ?? "")
        #expect(cpu.milliValue >= 245 && cpu.milliValue <= 255, "nanocores of 250m: \(nm.usage ?? [:])")
        #expect(nm.usage?["memory"] == "1Gi")

        // Lists: all namespaces, one namespace, selectors over the pods' labels and names.
        #expect(try c.get("\(Self.group)/nodes").json["kind"] == "NodeMetricsList")
        let list = try c.get("\(Self.group)/pods").json
        #expect(list["kind"] == "PodMetricsList" && list["apiVersion"] == "metrics.k8s.io/v1beta1")
        #expect((list["items"]?.arrayValue ?? []).filter { $0.value(at: "metadata.namespace")?.stringValue == ns }.count == 3)
        let selected = try c.get("\(Self.group)/namespaces/\(ns)/pods?labelSelector=idx%20in%20(0,2)").json["items"]?.arrayValue ?? []
        #expect(selected.compactMap { $0.value(at: "metadata.name")?.stringValue } == ["pod-0", "pod-2"])
        let named = try c.get("\(Self.group)/namespaces/\(ns)/pods?fieldSelector=metadata.name%3Dpod-1").json["items"]?.arrayValue ?? []
        #expect(named.count == 1)
        let pod = PodMetrics(json: named.first ?? .null)
        #expect(pod.metadata.labels?["idx"] == "1" && pod.containers.map(\.name) == ["app"])
        #expect(pod.containers.first?.usage?["memory"] == "2Mi")
        #expect(try c.get("\(Self.group)/nodes?labelSelector=metrics-test%3Dno").json["items"] == [])

        // Errors as metrics-server words them.
        let noPod = try c.get("\(Self.group)/namespaces/\(ns)/pods/nope")
        #expect(noPod.code == 404 && noPod.json["message"] == #"pods "nope" not found"#)
        let noNode = try c.get("\(Self.group)/nodes/nope")
        #expect(noNode.code == 404 && noNode.json["message"] == #"node "nope" not found"#)
        _ = try c.post("/api/v1/namespaces/\(ns)/pods", #"{"metadata":{"name":"quiet"},"spec":{"nodeName":"\#(node.name)","containers":[{"name":"c","image":"x"}]}}"#)
        let quiet = try c.get("\(Self.group)/namespaces/\(ns)/pods/quiet")
        #expect(quiet.code == 404 && quiet.json["message"] == .string(#"podmetrics.metrics.k8s.io "\#(ns)/quiet" not found"#))
        #expect(quiet.json.value(at: "details.group") == "metrics.k8s.io")
        #expect(try c.get("\(Self.group)/pods?labelSelector=a%20in").code == 400)
        #expect(try c.get("\(Self.group)/pods?fieldSelector=spec.nodeName%3Dx").code == 400)
        #expect(try c.post("\(Self.group)/namespaces/\(ns)/pods", #"{"metadata":{"name":"x"}}"#).code == 405)
        #expect(try c.delete("\(Self.group)/nodes/\(node.name)").code == 405)
        #expect(try c.get("\(Self.group)/pods?watch=true").code == 405)

        // kubectl get's table: name, the summed usage, the window.
        let table = try c.get("\(Self.group)/namespaces/\(ns)/pods/pod-2", accept: "application/json;as=Table;v=v1;g=meta.k8s.io").json
        #expect(table["kind"] == "Table")
        #expect(table["columnDefinitions"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["Name", "cpu", "memory", "Window"])
        #expect(table.value(at: "rows")?.arrayValue?.first?["cells"]?.arrayValue?[2] == "3Mi")
    }

    /// What the HPA controller does: list a namespace's PodMetrics by label selector through the typed client.
    @Test func typedClientReadsPodMetrics() throws {
        let m = try MasterProcess(extraArgs: ["--metric-resolution", "1s"])
        defer { m.stop() }
        let node = try FakeStatsNode(master: m, pods: 4, containers: 2)
        defer { node.stop() }
        #expect(Self.waitForPodMetrics(m.client, namespace: node.namespace, count: 4))
        let client = try APIClient(server: m.url)
        let metrics = try client.list(PodMetrics.self, namespace: node.namespace, labelSelector: "app=top,idx notin (3)")
        #expect(metrics.map(\.name).sorted() == ["pod-0", "pod-1", "pod-2"])
        for pm in metrics {
            let i = Int64(pm.name.dropFirst(4)) ?? 0
            let cpu = pm.milliUsage(of: "cpu") ?? 0
            #expect(cpu >= 20 * (i + 1) && cpu <= 20 * (i + 1) + 2, "two containers of \((i + 1) * 10)m: \(cpu)")
            #expect(pm.milliUsage(of: "memory") == 2 * (i + 1) * 1_048_576 * 1000)
            #expect(pm.timestamp != nil && pm.window.flatMap(GoDuration.parse) != nil)
        }
        #expect(try client.get(NodeMetrics.self, namespace: nil, name: node.name)?.usage?["memory"] == "1Gi")
        #expect(try client.get(PodMetrics.self, namespace: node.namespace, name: "nope") == nil)
    }

    /// A node whose server refuses connections and one that accepts but never answers: the live node's
    /// numbers keep coming every resolution.
    @Test func deadNodesDoNotStallTheOthers() throws {
        let m = try MasterProcess(extraArgs: ["--metric-resolution", "1s"])
        defer { m.stop() }
        let c = m.client
        let silent = try TestEnv.silentListener()
        defer { close(silent.fd) }
        try FakeStatsNode.register(c, name: TestEnv.uniqueName("hung"), port: silent.port)
        try FakeStatsNode.register(c, name: TestEnv.uniqueName("refused"), port: try TestEnv.freePort())
        let node = try FakeStatsNode(master: m, pods: 2)
        defer { node.stop() }
        #expect(Self.waitForPodMetrics(c, namespace: node.namespace, count: 2))
        // Fresh readings every second although one node never answers (it is cut off at 0.9 s).
        var stamps: Set<String> = []
        _ = TestEnv.eventually(6) {
            if let t = try? c.get("\(Self.group)/nodes/\(node.name)").json["timestamp"]?.stringValue { stamps.insert(t) }
            return stamps.count >= 3
        }
        #expect(stamps.count >= 3, "the live node's readings advance: \(stamps)")
        #expect(try c.get("\(Self.group)/nodes").json["items"]?.arrayValue?.count == 1)
        #expect(try c.get("/healthz").code == 200)
    }

    @Test func apiServicesAreServed() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        let builtIn = APIService(json: try c.get("/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io").json)
        #expect(builtIn.spec.group == "metrics.k8s.io" && builtIn.spec.version == "v1beta1" && !builtIn.spec.service.isSet)
        let available = builtIn.status.conditions.first { $0.type == "Available" }
        #expect(available?.status == .true && available?.reason == "Local" && available?.lastTransitionTime != nil)
        #expect(try c.get("/apis/apiregistration.k8s.io/v1").json["resources"]?.arrayValue?.map { $0["name"] } == ["apiservices", "apiservices/status"])

        let bad = try c.post("/apis/apiregistration.k8s.io/v1/apiservices",
                             #"{"metadata":{"name":"v1.wrong.io"},"spec":{"group":"example.io","version":"v1","groupPriorityMinimum":0,"versionPriority":100}}"#)
        #expect(bad.code == 422)
        #expect(bad.text.contains(#"must be `spec.version+\".\"+spec.group`: \"v1.example.io\""#), "\(bad.text)")
        #expect(bad.text.contains("must be positive and less than 20000"))
        let good = #"{"metadata":{"name":"v1alpha1.example.io"},"spec":{"group":"example.io","version":"v1alpha1","groupPriorityMinimum":1000,"versionPriority":15,"service":{"namespace":"default","name":"ext","port":443},"insecureSkipTLSVerify":true}}"#
        #expect(try c.post("/apis/apiregistration.k8s.io/v1/apiservices", good).code == 201)
        let names = (try c.get("/apis/apiregistration.k8s.io/v1/apiservices").json["items"]?.arrayValue ?? []).compactMap { $0.value(at: "metadata.name")?.stringValue }
        #expect(names == ["v1alpha1.example.io", "v1beta1.metrics.k8s.io"])
        let table = try c.get("/apis/apiregistration.k8s.io/v1/apiservices/v1alpha1.example.io", accept: "application/json;as=Table;v=v1;g=meta.k8s.io").json
        #expect(table.value(at: "rows")?.arrayValue?.first?["cells"]?.arrayValue?.prefix(3) == ["v1alpha1.example.io", "default/ext", "Unknown"])
        #expect(try c.delete("/apis/apiregistration.k8s.io/v1/apiservices/v1alpha1.example.io").code == 200)
    }

    /// Authorized like any resource: get/list of pods or nodes in group metrics.k8s.io; view grants them.
    @Test func metricsNeedTheirOwnPermission() throws {
        let s = try SecurityTests.start()
        defer { s.m.stop(); try? FileManager.default.removeItem(atPath: s.dir) }
        let denied = try s.call("GET", "\(Self.group)/namespaces/default/pods", token: "alice-token")
        #expect(denied.code == 403)
        #expect(denied.body.contains(#"pods.metrics.k8s.io is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"metrics.k8s.io\" in the namespace \"default\""#), "\(denied.body)")
        #expect(try s.call("GET", "/api/v1/namespaces/default/pods", token: "alice-token").code == 403)
        let binding = #"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"alice-view"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"},"subjects":[{"kind":"User","name":"alice"}]}"#
        #expect(try s.admin("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", body: binding).code == 201)
        #expect(try s.call("GET", "\(Self.group)/namespaces/default/pods", token: "alice-token").code == 200)
        #expect(try s.call("GET", "\(Self.group)/namespaces/kube-system/pods", token: "alice-token").code == 403)
        #expect(try s.call("GET", "\(Self.group)/nodes", token: "alice-token").code == 403, "nodes are cluster-scoped: a RoleBinding does not reach them")
        let reader = try s.admin("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:aggregated-metrics-reader")
        #expect(reader.code == 200 && reader.body.contains("aggregate-to-view"))
    }
}
