import API
import Testing

@Suite struct StrategyTests {
    func errors(_ kind: String, _ json: String) throws -> [String] {
        var obj = try JSONValue.parse(json)
        let s = ResourceStrategy.forKind(kind)
        s.applyDefaults(&obj)
        return s.validate(obj).map(\.description)
    }

    @Test func podDefaultsMatchKubernetes() throws {
        var pod = try JSONValue.parse(#"{"spec":{"containers":[{"name":"a","image":"nginx"},{"name":"b","image":"nginx:1.25","ports":[{"containerPort":80}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]}}"#)
        ResourceStrategy.forKind("Pod").applyDefaults(&pod)
        #expect(pod.value(at: "spec.restartPolicy") == "Always")
        #expect(pod.value(at: "spec.terminationGracePeriodSeconds") == 30)
        #expect(pod.value(at: "spec.dnsPolicy") == "ClusterFirst")
        #expect(pod.value(at: "spec.schedulerName") == "default-scheduler")
        let c = pod["spec"]?["containers"]?.arrayValue ?? []
        #expect(c[0]["imagePullPolicy"] == "Always")
        #expect(c[1]["imagePullPolicy"] == "IfNotPresent")
        #expect(c[1]["ports"]?.arrayValue?[0]["protocol"] == "TCP")
        #expect(c[1].value(at: "resources.requests") == c[1].value(at: "resources.limits"))
        #expect(pod.value(at: "status.phase") == "Pending")
        #expect(pod.value(at: "status.qosClass") == "Burstable")
        #expect(PodRules.pullPolicyDefault(image: "reg:5000/app") == "Always")
        #expect(PodRules.pullPolicyDefault(image: "app@sha256:abc") == "IfNotPresent")
    }

    @Test func podValidationNamesTheField() throws {
        let errs = try errors("Pod", #"""
        {"spec":{"containers":[{"name":"a","image":"x","ports":[{"containerPort":70000}]},{"name":"a"},{"name":"B_1","image":"y"}],
                 "restartPolicy":"Sometimes"}}
        """#)
        #expect(errs.contains("spec.containers[0].ports[0].containerPort: Invalid value: \"70000\": must be between 1 and 65535, inclusive"))
        #expect(errs.contains("spec.containers[1].name: Duplicate value: \"a\""))
        #expect(errs.contains("spec.containers[1].image: Required value: "))
        #expect(errs.contains { $0.hasPrefix("spec.containers[2].name: Invalid value: \"B_1\"") })
        #expect(errs.contains { $0.hasPrefix("spec.restartPolicy: Unsupported value: \"Sometimes\"") })
        #expect(try errors("Pod", #"{"spec":{}}"#) == ["spec.containers: Required value: "])
        #expect(try errors("Pod", #"{"spec":{"containers":[{"name":"a","image":"x","resources":{"requests":{"cpu":"2"},"limits":{"cpu":"1"}}}]}}"#)
            .contains { $0.contains("must be less than or equal to cpu limit") })
        #expect(try errors("Pod", #"{"spec":{"containers":[{"name":"a","image":"x","resources":{"limits":{"memory":"lots"}}}]}}"#)
            .contains { $0.hasPrefix("spec.containers[0].resources.limits[memory]: Invalid value: \"lots\"") })
    }

    @Test func podUpdatesMayOnlyChangeImages() throws {
        var old = try JSONValue.parse(#"{"spec":{"containers":[{"name":"a","image":"x:1"}]}}"#)
        ResourceStrategy.forKind("Pod").applyDefaults(&old)
        var new = old
        new["spec"]?["containers"] = [["name": "a", "image": "x:2", "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                                       "terminationMessagePolicy": "File", "resources": .object(JSONObject())]]
        #expect(ResourceStrategy.forKind("Pod").validateUpdate(new, old).isEmpty)
        new["spec"]?["restartPolicy"] = "Never"
        #expect(ResourceStrategy.forKind("Pod").validateUpdate(new, old).first?.description.hasPrefix("spec: Forbidden: pod updates may not change fields") == true)
    }

    @Test func deploymentDefaultsAndSelectorMustMatchTemplate() throws {
        var d = try JSONValue.parse(#"{"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#)
        let s = ResourceStrategy.forKind("Deployment")
        s.applyDefaults(&d)
        #expect(d.value(at: "spec.replicas") == 1)
        #expect(d.value(at: "spec.strategy.rollingUpdate.maxSurge") == "25%")
        #expect(d.value(at: "spec.revisionHistoryLimit") == 10)
        #expect(d.value(at: "spec.template.spec.restartPolicy") == "Always")
        #expect(s.validate(d).isEmpty)
        let bad = try errors("Deployment", #"{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#)
        #expect(bad == ["spec.template.metadata.labels: Invalid value: \"map[app:web]\": `selector` does not match template `labels`"])
        #expect(try errors("ReplicaSet", #"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#).contains("spec.selector: Required value: "))
        #expect(try errors("Deployment", #"{"spec":{"replicas":-1,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#)
            .contains("spec.replicas: Invalid value: \"-1\": must be greater than or equal to 0"))
    }

    @Test func replicationControllerSelectorDefaultsToTemplateLabels() throws {
        var rc = try JSONValue.parse(#"{"spec":{"template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#)
        ResourceStrategy.forKind("ReplicationController").applyDefaults(&rc)
        #expect(rc.value(at: "spec.selector")?.stringMap == ["app": "db"])
        #expect(rc.value(at: "metadata.labels")?.stringMap == ["app": "db"])
    }

    @Test func serviceDefaultsAndValidation() throws {
        var svc = try JSONValue.parse(#"{"spec":{"selector":{"app":"web"},"ports":[{"port":80}]}}"#)
        ResourceStrategy.forKind("Service").applyDefaults(&svc)
        #expect(svc.value(at: "spec.type") == "ClusterIP")
        #expect(svc["spec"]?["ports"]?.arrayValue?[0]["targetPort"] == 80)
        #expect(svc["spec"]?["ports"]?.arrayValue?[0]["protocol"] == "TCP")
        // (A node port's range is the server's flag: the allocator checks it, see APIServerTests.)
        let errs = try errors("Service", #"{"spec":{"type":"ClusterIP","ports":[{"port":80,"nodePort":30080},{"port":81}]}}"#)
        #expect(errs.contains { $0.hasPrefix("spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'") })
        #expect(errs.contains("spec.ports[0].name: Required value: "))
        #expect(NameValidation.dns1035Label("1web", field: "metadata.name").count == 1)
    }

    @Test func secretStringDataIsFoldedIntoData() throws {
        var secret = try JSONValue.parse(#"{"stringData":{"password":"hunter2"}}"#)
        ResourceStrategy.forKind("Secret").applyDefaults(&secret)
        #expect(secret.value(at: "data.password") == "aHVudGVyMg==")
        #expect(secret["stringData"] == nil)
        #expect(secret["type"] == "Opaque")
        #expect(try errors("Secret", #"{"data":{"k":"not base64!"}}"#).first?.hasPrefix("data[k]: Invalid value") == true)
        #expect(try errors("ConfigMap", #"{"data":{"bad key":"v"}}"#).first?.hasPrefix("data[bad key]: Invalid value") == true)
    }

    @Test func fieldSelectorsSeePodFields() throws {
        let pod = try JSONValue.parse(#"{"metadata":{"name":"p","namespace":"ns"},"spec":{"nodeName":"n1"},"status":{"phase":"Running"}}"#)
        let fields = ResourceStrategy.forKind("Pod").fields(of: pod)
        #expect(fields["spec.nodeName"] == "n1")
        #expect(fields["status.phase"] == "Running")
        #expect(fields["metadata.namespace"] == "ns")
        #expect(try FieldSelector(parsing: "spec.nodeName=n1,status.phase!=Failed").matches(fields))
    }
}
