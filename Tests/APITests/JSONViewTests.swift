import Foundation
import Testing
@testable import API

@Suite struct JSONViewTests {
    static let jobText = #"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pi","namespace":"default","labels":{"app":"pi"},"x-unknown":{"kept":true},"ownerReferences":[{"apiVersion":"batch/v1","kind":"CronJob","name":"cj","uid":"u1","controller":true}]},"spec":{"parallelism":2,"completionMode":"Indexed","futureField":[1,2],"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"pi","image":"busybox","command":["sh","-c","exit 3"]}]}}},"status":{"conditions":[{"type":"Complete","status":"True","lastTransitionTime":"2026-12-06T10:00:00Z"}],"succeeded":1}}"#

    @Test func readsTypedFields() throws {
        let job = Job(json: try JSONValue.parse(Self.jobText))
        #expect(job.name == "pi" && job.namespace == "default" && job.key == "default/pi")
        #expect(job.metadata.labels == ["app": "pi"])
        #expect(job.controllerRef?.kind == "CronJob" && job.controllerRef?.uid == "u1")
        #expect(job.spec.parallelism == 2 && job.spec.completions == nil)
        #expect(job.spec.completionMode == .indexed)
        #expect(job.spec.template.spec.restartPolicy == .never)
        #expect(job.spec.template.spec.containers.first?.command == ["sh", "-c", "exit 3"])
        let complete = try #require(job.status.conditions.first)
        #expect(complete.type == .complete && complete.status == .true)
        #expect(complete.lastTransitionTime == KubeTime.parse("2026-12-06T10:00:00Z"))
    }

    @Test func writesBackWithoutLosingUnknownFields() throws {
        let original = try JSONValue.parse(Self.jobText)
        var job = Job(json: original)
        job.status.active = 3
        job.spec.parallelism = nil
        job.metadata.labels?["tier"] = "batch"
        job.spec.template.spec.containers[0].image = "busybox:2"
        #expect(job.json["metadata"]?["x-unknown"] == original["metadata"]?["x-unknown"])
        #expect(job.json["spec"]?["futureField"] == [1, 2])
        #expect(job.json["spec"]?["parallelism"] == nil)
        #expect(job.json["status"]?["active"] == 3 && job.json["status"]?["succeeded"] == 1)
        #expect(job.json["metadata"]?["labels"]?.stringMap == ["app": "pi", "tier": "batch"])
        #expect(job.json["spec"]?["template"]?["spec"]?["containers"]?.arrayValue?.first?["image"] == "busybox:2")
        #expect(job.json["spec"]?["template"]?["spec"]?["containers"]?.arrayValue?.first?["name"] == "pi")
    }

    @Test func readingAMissingViewAndSettingItBackAddsNothing() {
        var pod = Pod.new(namespace: "ns", name: "p")
        let before = pod.json
        pod.status = pod.status               // empty, absent: stays absent
        pod.spec.tolerations = pod.spec.tolerations
        #expect(pod.json == before)
        #expect(pod.json["apiVersion"] == "v1" && pod.json["kind"] == "Pod" && pod.json["metadata"]?["name"] == "p")
    }

    @Test func unknownEnumValuesAreKeptAsWritten() throws {
        var pod = Pod(json: try JSONValue.parse(#"{"spec":{"restartPolicy":"Sometimes"},"status":{"phase":"Running"}}"#))
        #expect(pod.spec.restartPolicy == .other("Sometimes"))
        #expect(pod.status.phase == .running)
        pod.spec.restartPolicy = pod.spec.restartPolicy
        #expect(pod.json["spec"]?["restartPolicy"] == "Sometimes")
        #expect(RestartPolicy(rawValue: "OnFailure") == .onFailure && RestartPolicy.onFailure.rawValue == "OnFailure")
    }

    @Test func intOrStringScales() {
        #expect(IntOrString.string("25%").scaled(total: 10, roundUp: true) == 3)
        #expect(IntOrString.string("25%").scaled(total: 10, roundUp: false) == 2)
        #expect(IntOrString.int(4).scaled(total: 10, roundUp: false) == 4)
        #expect(IntOrString.string("x").scaled(total: 10, roundUp: false) == nil)
        #expect(IntOrString(json: "http") == .string("http") && IntOrString(json: 80) == .int(80))
    }
}
