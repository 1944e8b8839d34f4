// The Pod Security Standards checks, with Kubernetes' wording: what baseline and restricted
// refuse, and what a pod must set to pass restricted.
import Testing
@testable import API

@Suite struct PodSecurityTests {
    func pod(_ json: String) throws -> JSONValue { try JSONValue.parse(json) }

    @Test func baselineRefusesHostAccess() throws {
        let p = try pod(#"""
        {"spec":{"hostNetwork":true,"hostPID":true,
          "volumes":[{"name":"root","hostPath":{"path":"/"}},{"name":"tmp","emptyDir":{}}],
          "containers":[{"name":"c","securityContext":{"privileged":true,"capabilities":{"add":["SYS_ADMIN","CHOWN"]}},
                         "ports":[{"containerPort":80,"hostPort":8080}]},
                        {"name":"d","securityContext":{"seccompProfile":{"type":"Unconfined"}}}]}}
        """#)
        #expect(PodSecurity.violations(p, level: .baseline) == [
            "host namespaces (hostNetwork=true, hostPID=true)",
            "privileged (container \"c\" must not set securityContext.privileged=true)",
            "non-default capabilities (container \"c\" must not include \"SYS_ADMIN\" in securityContext.capabilities.add)",
            "hostPath volumes (volume \"root\")",
            "hostPort (container \"c\" uses hostPort 8080)",
            "seccompProfile (container \"d\" must not set securityContext.seccompProfile.type to \"Unconfined\")",
        ])
        #expect(PodSecurity.violations(p, level: .privileged).isEmpty)
        #expect(PodSecurity.message(pod: "x", level: .baseline, violations: ["a (b)"]) == "pods \"x\" is forbidden: violates PodSecurity \"baseline:latest\": a (b)")
    }

    @Test func restrictedWantsAHardenedPod() throws {
        let plain = try pod(#"{"spec":{"containers":[{"name":"app","image":"busybox"}]}}"#)
        #expect(PodSecurity.violations(plain, level: .baseline).isEmpty)
        #expect(PodSecurity.violations(plain, level: .restricted) == [
            "allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false)",
            "runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true)",
            "seccompProfile (pod or container \"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")",
            "unrestricted capabilities (container \"app\" must set securityContext.capabilities.drop=[\"ALL\"])",
        ])
        let hardened = try pod(#"""
        {"spec":{"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},
          "volumes":[{"name":"cfg","configMap":{"name":"c"}}],
          "containers":[{"name":"app","securityContext":{"allowPrivilegeEscalation":false,
                         "capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]}}}]}}
        """#)
        #expect(PodSecurity.violations(hardened, level: .restricted).isEmpty)
        let rootUser = try pod(#"""
        {"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":0,"seccompProfile":{"type":"RuntimeDefault"}},
          "volumes":[{"name":"data","nfs":{"server":"s","path":"/"}}],
          "containers":[{"name":"app","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}
        """#)
        #expect(PodSecurity.violations(rootUser, level: .restricted) == [
            "restricted volume types (volume \"data\" uses restricted volume type \"nfs\")",
            "runAsUser=0 (pod must not set runAsUser=0)",
        ])
    }

    @Test func namespaceLabelsPickTheLevel() throws {
        let ns = try JSONValue.parse(#"{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"baseline"}}}"#)
        #expect(PodSecurity.level(ns) == .baseline)
        #expect(PodSecurity.level(try JSONValue.parse(#"{"metadata":{}}"#)) == nil)
        #expect(PodSecurity.level(try JSONValue.parse(#"{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"bogus"}}}"#)) == .restricted)
    }
}
