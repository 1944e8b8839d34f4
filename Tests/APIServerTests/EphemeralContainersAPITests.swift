// pods/ephemeralcontainers against a real `skiff master`: GET, strategic-merge, JSON and merge
// patches and PUT add debugging containers; upstream's rules refuse ports/probes/resources, a
// name another container has, an unknown target, and any change or removal of one added; a main
// pod update leaves them as they are.
import API
import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct EphemeralContainersAPITests {
    static let pods = "/api/v1/namespaces/default/pods"

    func ephemeral(_ r: HTTPResponse) -> [JSONValue] { r.json["spec"]?["ephemeralContainers"]?.arrayValue ?? [] }

    @Test func addThroughTheSubresourceAndKeepThemUnchanged() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        let created = try c.post(Self.pods, #"{"metadata":{"name":"app"},"spec":{"containers":[{"name":"main","image":"busybox"}]}}"#)
        #expect(created.code == 201, "\(created.errorMessage)")
        let sub = Self.pods + "/app/ephemeralcontainers"
        #expect(try c.get(sub).code == 200 && ephemeral(try c.get(sub)).isEmpty)
        let discovery = try c.get("/api/v1").json["resources"]?.arrayValue ?? []
        #expect(discovery.contains { $0["name"] == "pods/ephemeralcontainers" && $0["verbs"] == ["get", "patch", "update"] })

        // As kubectl debug sends it: a strategic merge patch with `resources: {}`.
        let strategic = "application/strategic-merge-patch+json"
        var r = try c.patch(sub, #"{"spec":{"ephemeralContainers":[{"name":"debugger-1","image":"busybox","targetContainerName":"main","stdin":true,"tty":true,"resources":{}}]}}"#, type: strategic)
        #expect(r.code == 200, "\(r.errorMessage)")
        #expect(ephemeral(r).map { $0["name"] } == ["debugger-1"])
        #expect(ephemeral(r).first?["terminationMessagePolicy"] == "File", "defaulted as a container")
        // A second one merges by name (the first stays).
        r = try c.patch(sub, #"{"spec":{"ephemeralContainers":[{"name":"debugger-2","image":"busybox"}]}}"#, type: strategic)
        #expect(r.code == 200 && ephemeral(r).map { $0["name"] } == ["debugger-1", "debugger-2"], "\(r.errorMessage)")
        r = try c.patch(sub, #"[{"op":"add","path":"/spec/ephemeralContainers/-","value":{"name":"debugger-3","image":"busybox"}}]"#,
                        type: "application/json-patch+json")
        #expect(r.code == 200 && ephemeral(r).count == 3, "\(r.errorMessage)")

        // Upstream's rules.
        let refused: [(String, String)] = [
            (#"{"name":"p","image":"busybox","ports":[{"containerPort":80}]}"#, "spec.ephemeralContainers[3].ports: Forbidden: cannot be set for an Ephemeral Container"),
            (#"{"name":"r","image":"busybox","resources":{"limits":{"cpu":"1"}}}"#, "spec.ephemeralContainers[3].resources: Forbidden: cannot be set for an Ephemeral Container"),
            (#"{"name":"l","image":"busybox","livenessProbe":{"exec":{"command":["true"]}}}"#, "spec.ephemeralContainers[3].livenessProbe: Forbidden"),
            (#"{"name":"main","image":"busybox"}"#, "spec.ephemeralContainers[3].name: Duplicate value: \"main\""),
            (#"{"name":"t","image":"busybox","targetContainerName":"nope"}"#, "spec.ephemeralContainers[3].targetContainerName: Not found: \"nope\""),
        ]
        for (container, message) in refused {
            let bad = try c.patch(sub, #"{"spec":{"ephemeralContainers":[\#(container)]}}"#, type: strategic)
            #expect(bad.code == 422 && bad.errorMessage.contains(message), "\(container): \(bad.errorMessage)")
        }
        var pod = try c.get(Self.pods + "/app").json
        var list = pod["spec"]?["ephemeralContainers"]?.arrayValue ?? []
        list[0]["image"] = "other"
        pod["spec"]?["ephemeralContainers"] = .array(list)
        let changed = try c.put(sub, pod.jsonString)
        #expect(changed.code == 422 && changed.errorMessage.contains("existing ephemeral containers \"debugger-1\" may not be changed"), "\(changed.errorMessage)")
        pod["spec"]?["ephemeralContainers"] = .array(Array(list.dropFirst()))
        let removed = try c.put(sub, pod.jsonString)
        #expect(removed.code == 422 && removed.errorMessage.contains("existing ephemeral containers \"debugger-1\" may not be removed"), "\(removed.errorMessage)")

        // The main resource neither adds nor drops them; the subresource changes nothing else.
        let main = try c.patch(Self.pods + "/app", #"{"metadata":{"labels":{"a":"b"}},"spec":{"ephemeralContainers":null}}"#)
        #expect(main.code == 200 && ephemeral(main).count == 3, "\(main.errorMessage)")
        let other = try c.patch(sub, #"{"spec":{"activeDeadlineSeconds":5}}"#, type: strategic)
        #expect(other.code == 200 && other.json["spec"]?["activeDeadlineSeconds"] == nil, "\(other.errorMessage)")
    }
}
