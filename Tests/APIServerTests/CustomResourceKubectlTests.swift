// CustomResourceDefinitions with the real kubectl: the Kubernetes documentation's CronTab
// example (stable.example.com, shortName ct, schema, printer columns, status and scale
// subresources) created, listed, watched, described, scaled, validated and deleted.
import API
import Foundation
import Testing
import TestSupport

/// The docs' CronTab definition, with a scale subresource, a category and a second served version.
func cronTabDefinition(group: String = "stable.example.com") -> String {
    """
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: crontabs.\(group)
    spec:
      group: \(group)
      versions:
      - name: v1
        served: true
        storage: true
        schema:
          openAPIV3Schema:
            type: object
            description: A CronTab runs an image on a cron schedule.
            properties:
              spec:
                type: object
                description: What the CronTab runs and when.
                properties:
                  cronSpec:
                    type: string
                    description: The cron spec defining the interval a CronJob is run.
                    pattern: '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'
                  image:
                    type: string
                  replicas:
                    type: integer
                    minimum: 1
                    maximum: 10
                    default: 1
              status:
                type: object
                properties:
                  replicas:
                    type: integer
                  labelSelector:
                    type: string
        subresources:
          status: {}
          scale:
            specReplicasPath: .spec.replicas
            statusReplicasPath: .status.replicas
            labelSelectorPath: .status.labelSelector
        additionalPrinterColumns:
        - name: Spec
          type: string
          description: The cron spec defining the interval a CronJob is run
          jsonPath: .spec.cronSpec
        - name: Replicas
          type: integer
          description: The number of jobs launched by the CronJob
          jsonPath: .spec.replicas
        - name: Age
          type: date
          jsonPath: .metadata.creationTimestamp
      - name: v1beta1
        served: true
        storage: false
        schema:
          openAPIV3Schema:
            type: object
            x-kubernetes-preserve-unknown-fields: true
      scope: Namespaced
      names:
        plural: crontabs
        singular: crontab
        kind: CronTab
        shortNames: [ct]
        categories: [all]
    """
}

func cronTab(_ name: String, namespace: String, cronSpec: String = "* * * * */5", replicas: Int = 2, extra: String = "") -> String {
    """
    apiVersion: stable.example.com/v1
    kind: CronTab
    metadata:
      name: \(name)
      namespace: \(namespace)
    spec:
      cronSpec: "\(cronSpec)"
      image: my-awesome-cron-image
      replicas: \(replicas)\(extra)
    """
}

@Suite(.serialized) struct CustomResourceKubectlTests {
    /// Every installed kubectl, 1.27 to 1.33 (aggregated discovery v2beta1 up to 1.29, v2 after).
    @Test(arguments: ["1.33", "1.32", "1.31", "1.30", "1.29", "1.28", "1.27"])
    func cronTabLifecycle(version: String) throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let k = try Kubectl(version: version, master: m)
        defer { try? FileManager.default.removeItem(atPath: k.cacheDir) }
        let ns = TestEnv.uniqueName("crd")
        _ = try k.ok("create", "namespace", ns)

        #expect(try k.ok("apply", "-f", "-", stdin: cronTabDefinition()).contains("customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created"))
        #expect(try k.ok("get", "crd", "crontabs.stable.example.com", "-o", "jsonpath={.status.conditions[?(@.type==\"Established\")].status} {.status.conditions[?(@.type==\"NamesAccepted\")].status} {.status.acceptedNames.kind}") == "True True CronTab")
        let crds = try k.ok("get", "crd")
        #expect(crds.hasPrefix("NAME"))
        #expect(crds.contains("CREATED AT"))
        #expect(crds.contains("crontabs.stable.example.com"))
        let resources = try k.ok("api-resources", "--api-group=stable.example.com")
        #expect(resources.contains("crontabs"))
        #expect(resources.contains("ct "))
        #expect(resources.contains("stable.example.com/v1"))
        #expect(resources.contains("CronTab"))

        #expect(try k.ok("apply", "-f", "-", stdin: cronTab("my-new-cron-object", namespace: ns)).contains("crontab.stable.example.com/my-new-cron-object created"))
        #expect(try k.ok("apply", "-f", "-", stdin: cronTab("other", namespace: ns, replicas: 3)).contains("created"))
        let table = try k.ok("get", "ct", "-n", ns)
        #expect(table.contains("SPEC"))
        #expect(table.contains("REPLICAS"))
        #expect(table.contains("AGE"))
        #expect(table.contains("my-new-cron-object"))
        #expect(table.contains("* * * * */5"))
        #expect(try k.ok("get", "crontab", "my-new-cron-object", "-n", ns, "-o", "jsonpath={.spec.image} {.spec.replicas} {.metadata.generation}") == "my-awesome-cron-image 2 1")
        #expect(try k.ok("get", "crontabs.stable.example.com", "-n", ns, "-o", "name") == "crontab.stable.example.com/my-new-cron-object\ncrontab.stable.example.com/other\n")
        #expect(try k.ok("get", "ct", "-A", "--field-selector", "metadata.name=other", "-o", "name") == "crontab.stable.example.com/other\n")
        #expect(try k.ok("get", "all", "-n", ns).contains("crontab.stable.example.com/other"))
        let described = try k.ok("describe", "ct", "my-new-cron-object", "-n", ns)
        #expect(described.contains("Cron Spec:"))
        #expect(described.contains("my-awesome-cron-image"))
        // The other served version shows the same objects.
        #expect(try k.ok("get", "crontabs.v1beta1.stable.example.com", "other", "-n", ns, "-o", "jsonpath={.apiVersion} {.spec.replicas}") == "stable.example.com/v1beta1 3")

        // Invalid objects: 422 with upstream's field wording; unknown fields pruned, or refused when strict.
        let tooMany = try k.runArgs(["apply", "-f", "-"], stdin: cronTab("bad", namespace: ns, replicas: 50))
        #expect(tooMany.status != 0)
        #expect(tooMany.err.contains("spec.replicas: Invalid value: 50: spec.replicas in body should be less than or equal to 10"))
        let badSpec = try k.runArgs(["apply", "-f", "-"], stdin: cronTab("bad", namespace: ns, cronSpec: "not a cron"))
        #expect(badSpec.status != 0)
        #expect(badSpec.err.contains(#"spec.cronSpec: Invalid value: "not a cron": spec.cronSpec in body should match"#))
        _ = try k.ok("apply", "--validate=false", "-f", "-", stdin: cronTab("pruned", namespace: ns, extra: "\n  bogus: field"))
        // (kubectl apply's last-applied annotation still names it: the object itself does not.)
        #expect(try k.ok("get", "ct", "pruned", "-n", ns, "-o", "jsonpath={.spec}").contains("bogus") == false)
        #expect(try k.ok("get", "ct", "pruned", "-n", ns, "-o", "jsonpath={.spec.image}") == "my-awesome-cron-image")
        let strict = try k.runArgs(["create", "--validate=strict", "-f", "-"], stdin: cronTab("strict", namespace: ns, extra: "\n  bogus: field"))
        #expect(strict.status != 0)
        #expect(strict.err.contains("bogus"))
        #expect(try k.ok("explain", "crontab.spec").contains("What the CronTab runs and when."))

        // The scale subresource (kubectl scale reads and writes it).
        #expect(try k.ok("scale", "ct/my-new-cron-object", "-n", ns, "--replicas=5").contains("scaled"))
        #expect(try k.ok("get", "ct", "my-new-cron-object", "-n", ns, "-o", "jsonpath={.spec.replicas} {.metadata.generation}") == "5 2")
        #expect(try k.runArgs(["scale", "ct/my-new-cron-object", "-n", ns, "--replicas=11"]).status != 0)

        // Watch sees a change.
        let watched = try k.watch(["get", "ct", "-n", ns]) {
            _ = try k.ok("apply", "-f", "-", stdin: cronTab("watched", namespace: ns))
            _ = try k.ok("delete", "ct", "watched", "-n", ns)
        }
        #expect(watched.split(separator: "\n").filter { $0.hasPrefix("watched ") }.count >= 2, "\(watched)")

        // Deleting the definition deletes its objects, and the resource is no longer served.
        #expect(try k.ok("delete", "crd", "crontabs.stable.example.com").contains("deleted"))
        #expect(TestEnv.eventually(10) { (try? m.client.get("/apis/stable.example.com/v1/namespaces/\(ns)/crontabs").code) == 404 })
        #expect(try m.client.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/crontabs.stable.example.com").code == 404)
        _ = try k.ok("delete", "namespace", ns)
    }
}
