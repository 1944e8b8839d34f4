// Controller decisions that need no cluster: which pods a ReplicaSet deletes first, the
// Deployment's surge/unavailable arithmetic and template hashing, endpoint port resolution,
// expectations, and what the root CA publisher writes.
import API
import Client
@testable import Controllers
import Foundation
import Testing

func json(_ text: String) -> JSONValue {
    do { return try JSONValue.parse(text) } catch { Issue.record("bad test JSON: \(error)"); return .null }
}

@Suite struct ControllerLogicTests {
    @Test func leastValuablePodsAreDeletedFirst() {
        let pods = [
            json(#"{"metadata": {"name": "ready-old", "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"nodeName": "n"}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:10Z"}]}}"#),
            json(#"{"metadata": {"name": "unscheduled"}, "spec": {}, "status": {"phase": "Pending"}}"#),
            json(#"{"metadata": {"name": "pending"}, "spec": {"nodeName": "n"}, "status": {"phase": "Pending"}}"#),
            json(#"{"metadata": {"name": "not-ready"}, "spec": {"nodeName": "n"}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}}"#),
            json(#"{"metadata": {"name": "ready-new", "creationTimestamp": "2026-01-02T00:00:00Z"}, "spec": {"nodeName": "n"}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-02T00:00:10Z"}]}}"#),
        ]
        let order = ReplicaSetController.rankForDeletion(pods).compactMap { $0["metadata"]?["name"]?.stringValue }
        #expect(order == ["unscheduled", "pending", "not-ready", "ready-new", "ready-old"])
    }

    @Test func rollingUpdateArithmetic() {
        #expect(DeploymentController.resolve(nil, default: "25%", replicas: 3, roundUp: true) == 1)
        #expect(DeploymentController.resolve(nil, default: "25%", replicas: 3, roundUp: false) == 0)
        #expect(DeploymentController.resolve(json("2"), default: "25%", replicas: 10, roundUp: false) == 2)
        #expect(DeploymentController.resolve(json(#""50%""#), default: "25%", replicas: 5, roundUp: true) == 3)
        let t1 = json(#"{"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}"#)
        let t2 = json(#"{"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.26"}]}}"#)
        let h1 = DeploymentController.templateHash(t1)
        #expect(h1 == DeploymentController.templateHash(t1))
        #expect(h1 != DeploymentController.templateHash(t2))
        #expect(h1.allSatisfy { "bcdfghjklmnpqrstvwxz2456789".contains($0) })
        var labelled = t1
        labelled["metadata"]?["labels"]?["pod-template-hash"] = .string(h1)
        #expect(DeploymentController.comparable(labelled) == t1)
        let reordered = json(#"{"spec": {"containers": [{"image": "nginx:1.25", "name": "c"}]}, "metadata": {"creationTimestamp": null, "labels": {"app": "web"}}}"#)
        #expect(DeploymentController.templateHash(reordered) == h1, "key order and nulls don't change the hash")
    }

    @Test func namedTargetPortsResolvePerPod() {
        let pod = json(#"{"spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]}}"#)
        #expect(EndpointsController.targetPort(json(#"{"port": 80, "targetPort": "http"}"#), pod: pod) == 8080)
        #expect(EndpointsController.targetPort(json(#"{"port": 80, "targetPort": 9090}"#), pod: pod) == 9090)
        #expect(EndpointsController.targetPort(json(#"{"port": 80}"#), pod: pod) == 80)
        #expect(EndpointsController.targetPort(json(#"{"port": 80, "targetPort": "grpc"}"#), pod: pod) == nil)
    }

    @Test func expectationsHoldBackUntilObserved() {
        let e = Expectations()
        #expect(e.satisfied("ns/rs"))
        e.expectCreates("ns/rs", 2)
        #expect(!e.satisfied("ns/rs"))
        e.created("ns/rs")
        e.created("ns/rs")
        #expect(e.satisfied("ns/rs"))
        e.expectDeletes("ns/rs", pods: ["ns/a"])
        #expect(!e.satisfied("ns/rs"))
        e.deleted("ns/rs", pod: "ns/a")
        #expect(e.satisfied("ns/rs"))
    }

    @Test func podAvailabilityHonoursMinReadySeconds() {
        let pod = json(#"{"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}"#)
        let t0 = parseTime("2026-01-01T00:00:00Z") ?? Date()
        #expect(isAvailable(pod, minReadySeconds: 0, now: t0))
        #expect(!isAvailable(pod, minReadySeconds: 10, now: t0.addingTimeInterval(5)))
        #expect(isAvailable(pod, minReadySeconds: 10, now: t0.addingTimeInterval(11)))
    }
}

@Suite struct RootCAPublisherTests {
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

    @Test func createsWhatIsMissingAndRepairsWhatWasEdited() {
        guard case .create(let made) = RootCAPublisher.change(existing: nil, caPEM: pem, namespace: "team") else { Issue.record("expected a create"); return }
        #expect(made.name == "kube-root-ca.crt" && made.namespace == "team")
        #expect(made.data == ["ca.crt": pem])
        #expect(made.metadata.annotations?["kubernetes.io/description"] == RootCAPublisher.description)
        // As published: nothing to do.
        var stored = made
        stored.metadata.resourceVersion = "7"
        #expect(RootCAPublisher.change(existing: stored, caPEM: pem) == .none)
        // Other data, or the description gone: put back, keeping the object's other metadata (resourceVersion, labels).
        var edited = stored
        edited.data = ["ca.crt": "forged", "extra": "x"]
        edited.metadata.annotations = ["team": "a"]
        guard case .update(let fixed) = RootCAPublisher.change(existing: edited, caPEM: pem) else { Issue.record("expected an update"); return }
        #expect(fixed.data == ["ca.crt": pem])
        #expect(fixed.metadata.resourceVersion == "7")
        #expect(fixed.metadata.annotations?["team"] == "a")
        #expect(fixed.metadata.annotations?["kubernetes.io/description"] != nil)
        #expect(RootCAPublisher.change(existing: stored, caPEM: "another CA") != .none)
    }

    @Test func publishesIntoNamespacesAndLeavesTerminatingOnesAlone() throws {
        let api = FakeObjectClient()
        api.seed(Namespace.new(name: "team"))
        var going = Namespace.new(name: "going")
        going.metadata.deletionTimestamp = Date()
        api.seed(going)
        let publisher = RootCAPublisher(namespaces: api.lister(Namespace.self), configMaps: api.lister(ConfigMap.self), caPEM: "CA")
        #expect(Set(publisher.initialKeys()) == ["team", "going"])
        try publisher.sync("team", client: api)
        try publisher.sync("going", client: api)
        #expect(api.takeActions().map(\.description) == ["create ConfigMap team/kube-root-ca.crt"])
        #expect(try api.get(ConfigMap.self, namespace: "team", name: "kube-root-ca.crt")?.data == ["ca.crt": "CA\n"])
        try publisher.sync("team", client: api)
        #expect(api.takeActions().isEmpty, "published: nothing to write")
    }
}
