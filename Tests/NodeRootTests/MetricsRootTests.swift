// Scraping a secured `skiff up` as Prometheus does: with a ServiceAccount token bound to a
// ClusterRole with nodes/metrics (and the /metrics path), the agent's /metrics/cadvisor and
// /metrics answer; a token without it gets the kubelet's 403, no credentials or a forged token
// 401; the API server's own kubelet client certificate still works (kubectl logs). The master's
// /metrics, under RBAC too, carries the API server's, store's, work queues' and scheduler's series.
import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct MetricsRootTests {
    @Test func serviceAccountTokensScrapeTheAgentAndTheMaster() throws {
        let up = try SkiffUp(name: "skiff-metrics", tls: true)
        defer { up.stop() }
        func k(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) { try up.k(args) }
        let pod = """
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec:
          restartPolicy: Never
          containers:
          - {name: web, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "echo up; sleep 300"],
             resources: {limits: {memory: 64Mi}}}
        """
        let applied = try up.k(["apply", "-f", "-"], stdin: pod)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(TestEnv.eventually(40) { (try? k("get", "pod", "web", "-o", "jsonpath={.status.phase}").stdout) == "Running" }, "\(up.log.suffix(2000))")

        // Prometheus' account may read node metrics and the master's /metrics; another account may not.
        #expect(try k("create", "namespace", "monitoring").status == 0)
        for account in ["prometheus", "nobody"] { #expect(try k("create", "serviceaccount", account, "-n", "monitoring").status == 0) }
        let role = try k("create", "clusterrole", "scraper", "--verb=get", "--resource=nodes/metrics", "--non-resource-url=/metrics")
        #expect(role.status == 0, "\(role.stderr)")
        #expect(try k("create", "clusterrolebinding", "prometheus", "--clusterrole=scraper", "--serviceaccount=monitoring:prometheus").status == 0)
        let token = try k("create", "token", "prometheus", "-n", "monitoring").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let other = try k("create", "token", "nobody", "-n", "monitoring").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!token.isEmpty && !other.isEmpty)

        let node = try k("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout
        let nodePort = try k("get", "node", node, "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}").stdout
        let master = try k("config", "view", "-o", "jsonpath={.clusters[0].cluster.server}").stdout
        let ca = up.dir + "/master/tls/ca.crt"
        func get(_ url: String, token: String? = nil, extra: [String] = []) throws -> (code: Int, body: String) {
            var argv = ["/usr/bin/curl", "-s", "--cacert", ca, "-w", "\n%{http_code}"] + extra
            if let token { argv += ["-H", "Authorization: Bearer \(token)"] }
            let out = try TestEnv.capture(argv + [url]).stdout
            return (Int(out.split(separator: "\n").last ?? "") ?? 0, String(out.split(separator: "\n").dropLast().joined(separator: "\n")))
        }
        let agent = "https://127.0.0.1:\(nodePort)"

        // cAdvisor's series for the pod's container, by the labels Prometheus queries.
        let cadvisor = try get(agent + "/metrics/cadvisor", token: token)
        #expect(cadvisor.code == 200, "\(cadvisor.body.prefix(500)) \(up.log.suffix(2000))")
        let series = PrometheusText(cadvisor.body)
        let web = ["container": "web", "pod": "web", "namespace": "default"]
        #expect((series.value("container_memory_working_set_bytes", web) ?? 0) > 0, "\(cadvisor.body.prefix(3000))")
        #expect(series.value("container_cpu_usage_seconds_total", web) != nil)
        let limit: Double = 67_108_864   // 64Mi
        #expect(series.value("container_spec_memory_limit_bytes", web) == limit)
        #expect(series.series("container_memory_working_set_bytes", web).first?.labels["id"]?.hasPrefix("/") == true)
        #expect(series.series("container_memory_working_set_bytes", ["container": "", "pod": "web"]).count == 1, "the pod's cgroup")
        #expect(series.types["container_cpu_usage_seconds_total"] == "counter")

        // The agent's own series.
        let kubelet = try get(agent + "/metrics", token: token)
        #expect(kubelet.code == 200)
        let own = PrometheusText(kubelet.body)
        #expect((own.value("kubelet_running_pods") ?? 0) >= 1, "\(kubelet.body.prefix(2000))")
        #expect((own.value("kubelet_running_containers", ["container_state": "running"]) ?? 0) >= 1)
        #expect((own.value("kubelet_pod_start_duration_seconds_count") ?? 0) >= 1)
        #expect(own.sum("kubelet_pod_worker_duration_seconds_count", ["operation_type": "create"]) >= 1)
        #expect(own.value("kubelet_node_name", ["node": node]) == 1)

        // Refusals, in the kubelet's words: no nodes/stats or nodes/proxy for the scraper; nothing for the other account.
        let stats = try get(agent + "/stats/summary", token: token)
        #expect(stats.code == 403 && stats.body.contains("Forbidden (user=system:serviceaccount:monitoring:prometheus, verb=get, resource=nodes, subresource=stats)"),
                "\(stats)")
        #expect(try get(agent + "/pods", token: token).code == 403)
        let refused = try get(agent + "/metrics/cadvisor", token: other)
        #expect(refused.code == 403 && refused.body.contains("user=system:serviceaccount:monitoring:nobody, verb=get, resource=nodes, subresource=metrics"),
                "\(refused)")
        let anonymous = try get(agent + "/metrics/cadvisor")
        #expect(anonymous.code == 401 && anonymous.body.contains("Unauthorized"), "\(anonymous)")
        #expect(try get(agent + "/metrics", token: "forged").code == 401)
        // Client certificates keep working: the admin's (system:masters) directly, the API server's through kubectl logs.
        let admin = try get(agent + "/pods", extra: ["--cert", up.dir + "/master/tls/admin.crt", "--key", up.dir + "/master/tls/admin.key"])
        #expect(admin.code == 200 && admin.body.contains("PodList"), "\(admin.code)")
        #expect(TestEnv.eventually(10) { (try? k("logs", "web").stdout) == "up\n" })

        // The master's /metrics: RBAC decides, and the series of everything `skiff up` runs in the master.
        #expect(try get(master + "/metrics").code == 403)
        #expect(try get(master + "/metrics", token: other).code == 403)
        #expect(try get(master + "/metrics", token: "forged").code == 401)
        let scraped = try get(master + "/metrics", token: token)
        #expect(scraped.code == 200)
        let text = PrometheusText(scraped.body)
        #expect(text.sum("apiserver_request_total", ["verb": "POST", "resource": "pods", "code": "201"]) >= 1, "\(scraped.body.prefix(2000))")
        #expect(text.sum("apiserver_request_total", ["resource": "tokenreviews", "code": "201"]) >= 1, "the agent asked the master")
        #expect(text.sum("apiserver_request_total", ["resource": "subjectaccessreviews", "code": "201"]) >= 1)
        #expect(text.types["apiserver_request_duration_seconds"] == "histogram")
        #expect(text.sum("workqueue_adds_total", ["name": "endpoints"]) >= 1, "\(scraped.body.prefix(2000))")
        #expect(!text.series("workqueue_depth", ["name": "replicaset"]).isEmpty)
        #expect(!text.series("workqueue_work_duration_seconds_count", ["name": "garbagecollector"]).isEmpty)
        #expect(text.sum("scheduler_schedule_attempts_total", ["result": "scheduled"]) >= 1)
        #expect(text.sum("scheduler_scheduling_attempt_duration_seconds_count", ["result": "scheduled"]) >= 1)
        #expect(!text.series("scheduler_pending_pods", ["queue": "active"]).isEmpty)
        #expect(text.sum("etcd_request_duration_seconds_count", ["operation": "create", "type": "pods"]) >= 1)
        #expect(text.sum("apiserver_longrunning_requests", ["verb": "WATCH"]) >= 1)
        _ = try k("delete", "pod", "web", "--grace-period=1")
    }
}
