import API
import Testing

@Suite struct PatchTests {
    let pod = try! JSONValue.parse(#"""
    {"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","labels":{"a":"1","b":"2"},"finalizers":["x"]},
     "spec":{"containers":[{"name":"c1","image":"busybox:1","ports":[{"containerPort":80,"protocol":"TCP"}],
                            "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]},
                           {"name":"c2","image":"nginx:1"}],
             "tolerations":[{"key":"k1"}]}}
    """#)

    @Test func mergePatchFollowsRFC7386() throws {
        let out = Patch.mergePatch(pod, try JSONValue.parse(#"{"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"containers":[{"name":"only"}]}}"#))
        #expect(out.value(at: "metadata.labels")?.stringMap == ["b": "2", "c": "3"])
        #expect(out.value(at: "spec.containers")?.arrayValue?.count == 1)   // lists are replaced whole
        #expect(Patch.mergePatch(.null, ["a": ["b": .null]]) == ["a": .object(JSONObject())])
    }

    @Test func jsonPatchOperations() throws {
        let ops = try JSONValue.parse(#"""
        [{"op":"add","path":"/metadata/labels/c~1d","value":"3"},
         {"op":"replace","path":"/spec/containers/0/image","value":"busybox:2"},
         {"op":"remove","path":"/metadata/labels/a"},
         {"op":"add","path":"/spec/tolerations/-","value":{"key":"k2"}},
         {"op":"copy","from":"/metadata/name","path":"/metadata/generateName"},
         {"op":"move","from":"/metadata/finalizers","path":"/metadata/oldFinalizers"},
         {"op":"test","path":"/spec/containers/1/name","value":"c2"}]
        """#)
        let out = try Patch.jsonPatch(pod, ops)
        #expect(out.value(at: "metadata.labels")?.stringMap == ["b": "2", "c/d": "3"])
        #expect(out["spec"]?["containers"]?.arrayValue?[0]["image"] == "busybox:2")
        #expect(out["spec"]?["tolerations"]?.arrayValue?.count == 2)
        #expect(out.value(at: "metadata.generateName") == "p")
        #expect(out.value(at: "metadata.finalizers") == nil)
        #expect(out.value(at: "metadata.oldFinalizers") == ["x"])
    }

    @Test func jsonPatchFailuresAreErrors() throws {
        #expect(throws: PatchError.self) { try Patch.jsonPatch(pod, try JSONValue.parse(#"[{"op":"test","path":"/metadata/name","value":"q"}]"#)) }
        #expect(throws: PatchError.self) { try Patch.jsonPatch(pod, try JSONValue.parse(#"[{"op":"remove","path":"/nope"}]"#)) }
        #expect(throws: PatchError.self) { try Patch.jsonPatch(pod, try JSONValue.parse(#"[{"op":"add","path":"/spec/containers/9","value":1}]"#)) }
        #expect(throws: PatchError.self) { try Patch.jsonPatch(pod, try JSONValue.parse(#"{"op":"add"}"#)) }
    }

    @Test func strategicMergeMergesContainersByNameAndPortsByContainerPort() throws {
        let patch = try JSONValue.parse(#"""
        {"spec":{"containers":[{"name":"c1","image":"busybox:2","ports":[{"containerPort":443}],"env":[{"name":"B","value":"two"}]},
                               {"name":"c3","image":"redis"}],
                 "tolerations":[{"key":"k9"}]},
         "metadata":{"finalizers":["y"]}}
        """#)
        let out = try Patch.strategicMergePatch(pod, patch, kind: "Pod")
        let containers = out["spec"]?["containers"]?.arrayValue ?? []
        #expect(containers.compactMap { $0["name"]?.stringValue } == ["c1", "c2", "c3"])
        #expect(containers[0]["image"] == "busybox:2")
        #expect(containers[0]["ports"]?.arrayValue?.compactMap { $0["containerPort"]?.intValue } == [80, 443])
        #expect(containers[0]["env"]?.arrayValue?.compactMap { $0["value"]?.stringValue } == ["1", "two"])
        #expect(out["spec"]?["tolerations"] == [["key": "k9"]])        // no merge key: replaced
        #expect(out.value(at: "metadata.finalizers") == ["x", "y"])     // primitive merge list
    }

    @Test func strategicMergeDirectives() throws {
        let patch = try JSONValue.parse(#"""
        {"$setElementOrder/containers":[{"name":"c2"},{"name":"c1"}],
         "spec":{"$setElementOrder/containers":[{"name":"c2"},{"name":"c1"}],
                 "containers":[{"name":"c1","$patch":"delete"}]},
         "metadata":{"$deleteFromPrimitiveList/finalizers":["x"],"labels":{"$patch":"replace","z":"9"}}}
        """#)
        let out = try Patch.strategicMergePatch(pod, patch, kind: "Pod")
        #expect(out["spec"]?["containers"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["c2"])
        #expect(out.value(at: "metadata.finalizers") == .array([]))
        #expect(out.value(at: "metadata.labels")?.stringMap == ["z": "9"])

        let reorder = try Patch.strategicMergePatch(pod, try JSONValue.parse(#"{"spec":{"$setElementOrder/containers":[{"name":"c2"},{"name":"c1"}]}}"#), kind: "Pod")
        #expect(reorder["spec"]?["containers"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["c2", "c1"])

        let replaced = try Patch.strategicMergePatch(pod, try JSONValue.parse(#"{"spec":{"containers":[{"$patch":"replace"},{"name":"n","image":"i"}]}}"#), kind: "Pod")
        #expect(replaced["spec"]?["containers"]?.arrayValue?.count == 1)

        let retained = try Patch.strategicMergePatch(pod, try JSONValue.parse(#"{"metadata":{"$retainKeys":["name"],"name":"p"}}"#), kind: "Pod")
        #expect(retained["metadata"]?.objectValue?.keys == ["name"])
    }

    @Test func servicePortsMergeByPort() throws {
        let svc = try JSONValue.parse(#"{"spec":{"ports":[{"port":80,"name":"http"},{"port":443,"name":"https"}]}}"#)
        let out = try Patch.strategicMergePatch(svc, try JSONValue.parse(#"{"spec":{"ports":[{"port":443,"targetPort":8443}]}}"#), kind: "Service")
        #expect(out["spec"]?["ports"]?.arrayValue?.count == 2)
        #expect(out["spec"]?["ports"]?.arrayValue?[1]["targetPort"] == 8443)
    }
}
