import Foundation
import Testing
@testable import API

@Suite struct MetaTests {
    @Test func metadataValidationNamesFields() {
        var m = ObjectMeta()
        #expect(m.validate(namespaced: true).map(\.field) == ["metadata.name"])
        m.name = "Web_1"
        m.namespace = "Default"
        m.labels = ["app": "web", "bad key": "x", "tier": "-front"]
        m.finalizers = ["example.com/cleanup", "no good"]
        let fields = m.validate(namespaced: true).map(\.field)
        #expect(fields == ["metadata.name", "metadata.namespace", "metadata.labels", "metadata.labels", "metadata.finalizers[1]"])
        var ok = ObjectMeta()
        ok.generateName = "web-"
        ok.labels = ["app.kubernetes.io/name": "web"]
        #expect(ok.validate(namespaced: true).isEmpty)
        var cluster = ObjectMeta()
        cluster.name = "node-1"
        cluster.namespace = "default"
        #expect(cluster.validate(namespaced: false).map(\.field) == ["metadata.namespace"])
    }

    @Test func statusJSONMatchesKubernetes() throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let json = String(decoding: try enc.encode(Status.notFound(group: "", resource: "pods", name: "web")), as: UTF8.self)
        #expect(json == #"{"apiVersion":"v1","code":404,"details":{"kind":"pods","name":"web"},"kind":"Status","message":"pods \"web\" not found","metadata":{},"reason":"NotFound","status":"Failure"}"#)
        let invalid = Status.invalid(group: "", kind: "Pod", name: "Web",
                                     errors: [FieldError(.invalid, field: "metadata.name", value: "Web", detail: "bad")])
        #expect(invalid.code == 422)
        #expect(invalid.message == #"Pod "Web" is invalid: metadata.name: Invalid value: "Web": bad"#)
        #expect(invalid.details?.causes?.first?.field == "metadata.name")
        #expect(Status.conflict(group: "apps", resource: "deployments", name: "d").message?.hasPrefix("Operation cannot be fulfilled on deployments.apps \"d\"") == true)
    }
}

@Suite struct ResourceRegistryTests {
    @Test func lookupsByPluralAndKind() {
        #expect(ResourceRegistry.lookup(groupVersion: "v1", plural: "pods")?.kind == "Pod")
        #expect(ResourceRegistry.lookup(apiVersion: "apps/v1", kind: "Deployment")?.plural == "deployments")
        #expect(ResourceRegistry.lookup(groupVersion: "apps/v1", plural: "pods") == nil)
        #expect(ResourceRegistry.groupVersions == ["v1", "apps/v1", "authentication.k8s.io/v1", "authorization.k8s.io/v1", "batch/v1",
                                                   "autoscaling/v2", "autoscaling/v1", "policy/v1", "storage.k8s.io/v1", "coordination.k8s.io/v1",
                                                   "discovery.k8s.io/v1", "rbac.authorization.k8s.io/v1", "apiextensions.k8s.io/v1", "apiregistration.k8s.io/v1",
                                                   "metrics.k8s.io/v1beta1", "scheduling.k8s.io/v1"])
        // The reviews are created only.
        #expect(ResourceRegistry.resources(in: "authorization.k8s.io/v1").map(\.verbs).allSatisfy { $0 == ["create"] })
        #expect(ResourceRegistry.lookup(groupVersion: "authorization.k8s.io/v1", plural: "localsubjectaccessreviews")?.namespaced == true)
        #expect(ResourceRegistry.lookup(groupVersion: "metrics.k8s.io/v1beta1", plural: "pods")?.kind == "PodMetrics")
        #expect(ResourceRegistry.resources(in: "metrics.k8s.io/v1beta1").map(\.verbs) == [["get", "list"], ["get", "list"]])
    }

    @Test func discoveryListsResourcesAndSubresources() throws {
        let core = ResourceRegistry.resources(in: "v1")
        let pods = try #require(core.first { $0.name == "pods" })
        #expect(pods.namespaced && pods.shortNames == ["po"] && pods.categories == ["all"] && pods.verbs.contains("watch"))
        #expect(core.first { $0.name == "pods/binding" }?.kind == "Binding")
        #expect(core.first { $0.name == "pods/status" }?.verbs == ["get", "patch", "update"])
        #expect(core.first { $0.name == "nodes" }?.namespaced == false)
        let apps = ResourceRegistry.resources(in: "apps/v1")
        #expect(apps.first { $0.name == "deployments/scale" }?.kind == "Scale")
        // Every kind the issue names is served.
        let kinds = Set(ResourceRegistry.all.map(\.kind))
        for k in ["Namespace", "Pod", "Node", "Service", "Endpoints", "ConfigMap", "Secret", "Event",
                  "ReplicationController", "ReplicaSet", "Deployment", "Lease", "EndpointSlice"] {
            #expect(kinds.contains(k), "\(k)")
        }
    }
}

@Suite struct KubeTimeTests {
    @Test func formatsAndParsesKubernetesTimes() {
        let d = Date(timeIntervalSince1970: 1_764_000_000.123456)
        #expect(KubeTime.format(d) == "2025-11-24T16:00:00Z")
        #expect(KubeTime.format(d, fractionDigits: 6).hasPrefix("2025-11-24T16:00:00.12345"))
        #expect(KubeTime.format(d, fractionDigits: 9).count == "2025-11-24T16:00:00.123456000Z".count)
        #expect(KubeTime.parse("2025-11-24T16:00:00Z") == Date(timeIntervalSince1970: 1_764_000_000))
        let micro = KubeTime.parse("2025-11-24T16:00:00.500000Z")?.timeIntervalSince1970 ?? 0
        #expect(abs(micro - 1_764_000_000.5) < 0.0001)
        #expect(KubeTime.parse("nope") == nil)
    }
}
