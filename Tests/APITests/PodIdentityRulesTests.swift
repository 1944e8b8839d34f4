// The pure halves of pod identity: ServiceAccount admission's pod changes, and the validation of
// a pod's DNS settings, hostname/subdomain and host aliases in Kubernetes' words.
import API
import Testing

@Suite struct PodIdentityRulesTests {
    func pod(_ text: String) -> JSONValue { (try? JSONValue.parse(text)) ?? .null }

    func errors(_ spec: String) -> [String] {
        var p = pod(#"{"spec":{\#(spec.isEmpty ? "" : spec + ",")"containers":[{"name":"c","image":"x"}]}}"#)
        PodRules.strategy.applyDefaults(&p)
        return PodRules.strategy.validate(p).map(\.description)
    }

    @Test func theAccountIsDefaultedAndMirrored() {
        var p = pod(#"{"spec":{}}"#)
        #expect(ServiceAccountAdmission.defaultServiceAccount(&p) == "default")
        #expect(p.value(at: "spec.serviceAccount") == "default")
        var old = pod(#"{"spec":{"serviceAccount":"robot"}}"#)
        #expect(ServiceAccountAdmission.defaultServiceAccount(&old) == "robot")
        #expect(old.value(at: "spec.serviceAccountName") == "robot")
        var both = pod(#"{"spec":{"serviceAccountName":"a","serviceAccount":"b"}}"#)
        #expect(ServiceAccountAdmission.defaultServiceAccount(&both) == "a")
        #expect(both.value(at: "spec.serviceAccount") == "a")
    }

    @Test func thePodsChoiceWinsOverTheAccounts() {
        let quiet = pod(#"{"automountServiceAccountToken":false}"#), plain = pod("{}")
        #expect(ServiceAccountAdmission.shouldAutomount(pod: pod(#"{"spec":{}}"#), serviceAccount: plain))
        #expect(!ServiceAccountAdmission.shouldAutomount(pod: pod(#"{"spec":{}}"#), serviceAccount: quiet))
        #expect(ServiceAccountAdmission.shouldAutomount(pod: pod(#"{"spec":{"automountServiceAccountToken":true}}"#), serviceAccount: quiet))
        #expect(!ServiceAccountAdmission.shouldAutomount(pod: pod(#"{"spec":{"automountServiceAccountToken":false}}"#), serviceAccount: plain))
    }

    @Test func theTokenIsMountedOnceWhereNothingIsMounted() {
        var p = pod(#"""
            {"spec":{"initContainers":[{"name":"i"}],"containers":[{"name":"a","volumeMounts":[{"name":"v","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}]},{"name":"b"}]}}
            """#)
        #expect(ServiceAccountAdmission.mountToken(&p, suffix: "abcde"))
        #expect(p.value(at: "spec.volumes")?.arrayValue?.map { $0["name"] } == ["kube-api-access-abcde"])
        #expect(p.value(at: "spec.volumes")?.arrayValue?.first == ServiceAccountAdmission.tokenVolume(name: "kube-api-access-abcde"))
        let mounts = ["initContainers", "containers"].flatMap { p.value(at: "spec." + $0)?.arrayValue ?? [] }.map { $0["volumeMounts"]?.arrayValue?.last?["name"] }
        #expect(mounts == ["kube-api-access-abcde", "v", "kube-api-access-abcde"])
        // Again (an existing kube-api-access volume is reused; nothing left to mount).
        #expect(!ServiceAccountAdmission.mountToken(&p, suffix: "zzzzz"))
        #expect(p.value(at: "spec.volumes")?.arrayValue?.count == 1)
        // Every container already mounts the path: no volume is added.
        var covered = pod(#"{"spec":{"containers":[{"name":"a","volumeMounts":[{"name":"v","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}]}]}}"#)
        #expect(!ServiceAccountAdmission.mountToken(&covered, suffix: "abcde"))
        #expect(covered.value(at: "spec.volumes") == nil)
    }

    @Test func imagePullSecretsComeFromTheAccountWhenThePodHasNone() {
        let account = pod(#"{"imagePullSecrets":[{"name":"reg"}]}"#)
        var p = pod(#"{"spec":{}}"#)
        ServiceAccountAdmission.addImagePullSecrets(&p, from: account)
        #expect(p.value(at: "spec.imagePullSecrets") == pod(#"[{"name":"reg"}]"#))
        var own = pod(#"{"spec":{"imagePullSecrets":[{"name":"mine"}]}}"#)
        ServiceAccountAdmission.addImagePullSecrets(&own, from: account)
        #expect(own.value(at: "spec.imagePullSecrets") == pod(#"[{"name":"mine"}]"#))
    }

    @Test func dnsConfigLimits() {
        #expect(errors(#""dnsPolicy":"None""#) == ["spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"])
        #expect(errors(#""dnsPolicy":"None","dnsConfig":{}"#)
            == ["spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when `dnsPolicy` is None"])
        #expect(errors(#""dnsConfig":{"nameservers":["1.1.1.1","2.2.2.2","3.3.3.3","x"]}"#) == [
            #"spec.dnsConfig.nameservers: Invalid value: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3", "x"}: must not have more than 3 nameservers"#,
            #"spec.dnsConfig.nameservers[3]: Invalid value: "x": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"#,
        ])
        let many = (0..<33).map { "\"d\($0).example\"" }.joined(separator: ",")
        #expect(errors(#""dnsConfig":{"searches":[\#(many)]}"#).count == 1)
        #expect(errors(#""dnsConfig":{"searches":[\#(many)]}"#).first?.hasSuffix(": must not have more than 32 search paths") == true)
        // 2048 characters counting the spaces between the entries: nine of 231 make 2087.
        let long = (0..<9).map { _ in "\"" + String(repeating: "a", count: 63) + "." + String(repeating: "b", count: 63) + "." + String(repeating: "c", count: 63) + "." + String(repeating: "d", count: 39) + "\"" }
        #expect(errors(#""dnsConfig":{"searches":[\#(long.joined(separator: ","))]}"#).map { $0.hasSuffix("must not have more than 2048 characters (including spaces) in the search list") } == [true])
        #expect(errors(#""dnsConfig":{"searches":["corp.example.","Bad_Domain"],"options":[{"value":"2"}]}"#) == [
            "spec.dnsConfig.searches[1]: Invalid value: \"Bad_Domain\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            "spec.dnsConfig.options[0]: Required value: must not be empty",
        ])
        #expect(errors(#""dnsPolicy":"None","dnsConfig":{"nameservers":["fd00::10","10.0.0.10"]}"#).isEmpty)
    }

    @Test func hostnameSubdomainAndAliases() {
        #expect(errors(#""hostname":"web-0","subdomain":"web","hostAliases":[{"ip":"127.0.0.1","hostnames":["foo.local"]}]"#).isEmpty)
        #expect(errors(#""hostname":"web.0""#).first?.hasPrefix("spec.hostname: Invalid value: \"web.0\": a lowercase RFC 1123 label") == true)
        #expect(errors(#""subdomain":"-web""#).first?.hasPrefix("spec.subdomain: Invalid value: \"-web\"") == true)
        #expect(errors(#""hostAliases":[{"ip":"010.0.0.1","hostnames":["ok"]},{"ip":"::1","hostnames":["Not OK"]}]"#) == [
            #"spec.hostAliases[0].ip: Invalid value: "010.0.0.1": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"#,
            "spec.hostAliases[1].hostnames[0]: Invalid value: \"Not OK\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        ])
    }

    @Test func serviceNamesAreDNS1035Labels() {
        #expect(NameValidation.dns1035Label("web-1", field: "metadata.name").isEmpty)
        #expect(NameValidation.dns1035Label("1web", field: "metadata.name").map(\.description) == [
            "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        ])
    }
}
