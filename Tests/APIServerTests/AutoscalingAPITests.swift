// HorizontalPodAutoscalers against a real `skiff master` without controllers: discovery of both
// versions, autoscaling/v2 defaults and validation, autoscaling/v1 as a view of the same objects
// (get, list, watch, create, update, patch — a v1 round trip keeps what v1 cannot show), and
// what kubectl prints. The controller's scaling runs against skiff up in AutoscalingRootTests.
import API
import Foundation
import Testing
import TestSupport

@Suite struct AutoscalingAPITests {
    static let v2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
    static let v1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"

    func hpa(_ name: String, _ spec: String = #""minReplicas":2,"maxReplicas":5"#) -> String {
        #"{"metadata":{"name":"\#(name)"},"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},\#(spec)}}"#
    }

    @Test func discoveryDefaultsAndValidation() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        let group = try c.get("/apis/autoscaling").json
        #expect(group["preferredVersion"]?["version"] == "v2")
        #expect(group["versions"]?.arrayValue?.compactMap { $0["version"]?.stringValue } == ["v2", "v1"])
        for version in ["v1", "v2"] {
            let names = (try c.get("/apis/autoscaling/\(version)").json["resources"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
            #expect(names.contains("horizontalpodautoscalers") && names.contains("horizontalpodautoscalers/status"), "\(version): \(names)")
        }

        // Defaults: minReplicas 1 and cpu at 80% when nothing is said; a behavior's unset rules filled.
        var r = try c.post(Self.v2, hpa("plain", #""maxReplicas":3"#))
        #expect(r.code == 201, "\(r.errorMessage)")
        let plain = HorizontalPodAutoscaler(json: r.json)
        #expect(plain.spec.minReplicas == 1)
        #expect(plain.spec.metrics.first?.resource.name == "cpu" && plain.spec.metrics.first?.resource.target.averageUtilization == 80)
        #expect(plain.spec.json["behavior"] == nil)
        r = try c.post(Self.v2, hpa("tuned", #""maxReplicas":3,"behavior":{"scaleDown":{"stabilizationWindowSeconds":60}}"#))
        let tuned = HorizontalPodAutoscaler(json: r.json).spec.behavior
        #expect(tuned.scaleDown.stabilizationWindowSeconds == 60 && tuned.scaleDown.policies.first?.value == 100)
        #expect(tuned.scaleUp.stabilizationWindowSeconds == 0 && tuned.scaleUp.policies.count == 2 && tuned.scaleUp.selectPolicy == .max)

        // Validation, with Kubernetes' paths and messages.
        let bad: [(String, String)] = [
            (#""minReplicas":0,"maxReplicas":3"#, "spec.minReplicas: Invalid value: 0: must be greater than 0"),
            (#""minReplicas":4,"maxReplicas":3"#, "spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`"),
            (#""maxReplicas":3,"metrics":[{"type":"Bogus"}]"#, #"spec.metrics[0].type: Unsupported value: "Bogus""#),
            (#""maxReplicas":3,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":0}}}]"#,
             "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"),
            (#""maxReplicas":3,"metrics":[{"type":"Resource","pods":{}}]"#, "spec.metrics[0].resource: Required value: must populate information for the given metric source"),
            (#""maxReplicas":3,"behavior":{"scaleUp":{"policies":[{"type":"Pods","value":1,"periodSeconds":2000}]}}"#,
             "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 2000: must be less than or equal to 1800"),
        ]
        for (spec, message) in bad {
            r = try c.post(Self.v2, hpa("bad", spec))
            #expect(r.code == 422 && r.errorMessage.contains(message), "\(spec): \(r.errorMessage)")
        }
        r = try c.post(Self.v2, #"{"metadata":{"name":"noref"},"spec":{"maxReplicas":3}}"#)
        #expect(r.code == 422 && r.errorMessage.contains("spec.scaleTargetRef.kind: Required value"), "\(r.errorMessage)")
    }

    @Test func version1IsAViewOfTheSameObjects() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        // Created as v1: stored as v2 with the cpu target as a metric.
        var r = try c.post(Self.v1, hpa("one", #""maxReplicas":4,"targetCPUUtilizationPercentage":70"#))
        #expect(r.code == 201, "\(r.errorMessage)")
        #expect(r.json["apiVersion"] == "autoscaling/v1" && r.json["spec"]?["targetCPUUtilizationPercentage"] == 70)
        let stored = HorizontalPodAutoscaler(json: try c.get(Self.v2 + "/one").json)
        #expect(stored.spec.metrics.count == 1 && stored.spec.metrics[0].resource.target.averageUtilization == 70)

        // A v2 object with more than v1 can say: the rest rides in annotations and survives a v1 round trip.
        let memory = #"{"type":"Resource","resource":{"name":"memory","target":{"type":"AverageValue","averageValue":"100Mi"}}}"#
        let cpu = #"{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}}}"#
        r = try c.post(Self.v2, hpa("two", #""maxReplicas":4,"metrics":[\#(cpu),\#(memory)],"behavior":{"scaleDown":{"stabilizationWindowSeconds":30}}"#))
        #expect(r.code == 201, "\(r.errorMessage)")
        let asV1 = try c.get(Self.v1 + "/two").json
        #expect(asV1["spec"]?["targetCPUUtilizationPercentage"] == 50)
        let annotations = asV1["metadata"]?["annotations"]?.stringMap ?? [:]
        #expect(annotations["autoscaling.alpha.kubernetes.io/metrics"]?.contains("memory") == true, "\(annotations)")
        #expect(annotations["autoscaling.alpha.kubernetes.io/behavior"]?.contains("\"stabilizationWindowSeconds\":30") == true)
        var edited = asV1
        edited["spec"]?["maxReplicas"] = 6
        r = try c.put(Self.v1 + "/two", edited.jsonString)
        #expect(r.code == 200, "\(r.errorMessage)")
        var back = HorizontalPodAutoscaler(json: try c.get(Self.v2 + "/two").json)
        #expect(back.spec.maxReplicas == 6 && back.spec.metrics.count == 2 && back.spec.metrics[1].resource.name == "memory")
        #expect(back.spec.behavior.scaleDown.stabilizationWindowSeconds == 30)
        #expect(back.metadata.annotations == nil)

        // A v1 patch changes the cpu target and keeps the memory metric.
        r = try c.patch(Self.v1 + "/two", #"{"spec":{"targetCPUUtilizationPercentage":40}}"#)
        #expect(r.code == 200 && r.json["spec"]?["targetCPUUtilizationPercentage"] == 40, "\(r.errorMessage)")
        back = HorizontalPodAutoscaler(json: try c.get(Self.v2 + "/two").json)
        #expect(back.spec.metrics.map { $0.resource.name } == ["cpu", "memory"] && back.spec.metrics[0].resource.target.averageUtilization == 40)

        // Status written in v2 shows in v1's fields.
        var withStatus = back
        withStatus.status.currentReplicas = 3
        withStatus.status.desiredReplicas = 4
        var current = MetricStatus()
        current.type = .resource
        current.resource.name = "cpu"
        current.resource.current.averageUtilization = 93
        withStatus.status.currentMetrics = [current]
        r = try c.put(Self.v2 + "/two/status", withStatus.json.jsonString)
        #expect(r.code == 200, "\(r.errorMessage)")
        let statusV1 = try c.get(Self.v1 + "/two/status").json
        #expect(statusV1["status"]?["currentCPUUtilizationPercentage"] == 93 && statusV1["status"]?["desiredReplicas"] == 4)

        // Lists and watches answer in the version asked for.
        let list = try c.get(Self.v1).json
        #expect(list["kind"] == "HorizontalPodAutoscalerList" && list["apiVersion"] == "autoscaling/v1")
        #expect(list["items"]?.arrayValue?.allSatisfy { $0["apiVersion"] == "autoscaling/v1" && $0["spec"]?["targetCPUUtilizationPercentage"] != nil } == true)
        let watch = try c.watch(Self.v1 + "?watch=true&resourceVersion=0")
        defer { watch.close() }
        let first = try #require(try watch.next())
        #expect(first["type"] == "ADDED" && first["object"]?["apiVersion"] == "autoscaling/v1")
    }

    @Test func kubectlAutoscaleAndGet() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let deployment = #"{"metadata":{"name":"web"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}"#
        #expect(try m.client.post("/apis/apps/v1/namespaces/default/deployments", deployment).code == 201)
        for version in ["1.27", "1.33"] {
            let k = try Kubectl(version: version, master: m)
            _ = try k.ok("autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=60")
            let table = try k.ok("get", "hpa")
            #expect(table.contains("REFERENCE") && table.contains("TARGETS") && table.contains("MINPODS"), "\(table)")
            #expect(table.contains("Deployment/web") && table.contains("cpu: <unknown>/60%"), "\(table)")
            #expect(try k.ok("get", "hpa", "web", "-o", "jsonpath={.spec.minReplicas}/{.spec.maxReplicas}") == "2/5")
            _ = try k.ok("delete", "hpa", "web")
        }
    }
}
