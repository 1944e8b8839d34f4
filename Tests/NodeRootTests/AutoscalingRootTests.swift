// A HorizontalPodAutoscaler on a real cluster (`skiff up`, kubectl 1.33, the built-in metrics
// pipeline): a Deployment whose pods burn CPU until a file appears on a hostPath volume scales up
// to its HPA's max, and back to min once the file stops the load.
import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs the whole cluster"))
struct AutoscalingRootTests {
    static func manifest(loadDir: String) -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: burn}
        spec:
          replicas: 1
          selector: {matchLabels: {app: burn}}
          template:
            metadata: {labels: {app: burn}}
            spec:
              terminationGracePeriodSeconds: 1
              volumes:
              - {name: load, hostPath: {path: "\(loadDir)"}}
              containers:
              - name: burn
                image: "busybox:latest"
                imagePullPolicy: IfNotPresent
                command: ["sh", "-c", "while [ ! -e /load/stop ]; do :; done; exec sleep 3600"]
                resources: {requests: {cpu: 50m}}
                volumeMounts: [{name: load, mountPath: /load}]
        ---
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata: {name: burn}
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
          minReplicas: 1
          maxReplicas: 3
          metrics:
          - type: Resource
            resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
          behavior:
            scaleDown: {stabilizationWindowSeconds: 5}
        """
    }

    @Test func scalesABusyDeploymentUpToMaxAndBackToMin() throws {
        let up = try SkiffUp(name: "skiff-hpa", extraArgs: ["--metric-resolution", "2s", "--horizontal-pod-autoscaler-sync-period", "2s"])
        defer { up.stop() }
        func k(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) { try up.k(args) }
        let loadDir = up.dir + "/load"
        try FileManager.default.createDirectory(atPath: loadDir, withIntermediateDirectories: true)
        let applied = try up.k(["apply", "-f", "-"], stdin: Self.manifest(loadDir: loadDir))
        #expect(applied.status == 0, "\(applied)")

        var replicas = ""
        let scaledUp = try TestEnv.eventually(120) {
            replicas = try k("get", "deploy", "burn", "-o", "jsonpath={.spec.replicas}").stdout
            return replicas == "3"
        }
        let describedUp = try k("describe", "hpa", "burn").stdout
        #expect(scaledUp, "replicas \(replicas); \(describedUp) \(up.log.suffix(3000))")
        let table = try k("get", "hpa", "burn").stdout
        #expect(table.contains("Deployment/burn") && table.range(of: #"cpu: \d+%/50%"#, options: .regularExpression) != nil, "\(table)")
        let status = try k("get", "hpa", "burn", "-o", "jsonpath={.status.conditions[?(@.type==\"ScalingActive\")].status}").stdout
        #expect(status == "True")
        let events = try k("get", "events", "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler", "-o", "jsonpath={.items[*].reason}").stdout
        #expect(events.contains("SuccessfulRescale"), "\(events)")

        // The load stops: after the 5 s window the HPA scales back down to its minimum.
        #expect(FileManager.default.createFile(atPath: loadDir + "/stop", contents: Data()))
        let scaledDown = try TestEnv.eventually(120) {
            replicas = try k("get", "deploy", "burn", "-o", "jsonpath={.spec.replicas}").stdout
            return replicas == "1"
        }
        let describedDown = try k("describe", "hpa", "burn").stdout
        #expect(scaledDown, "replicas \(replicas); \(describedDown)")
        #expect(try k("delete", "deploy", "burn").status == 0)
    }
}
