"""The official Python `kubernetes` client against a Skiff master (argv[1] is its URL).
Exits non-zero with a message on the first thing that does not behave as on Kubernetes."""
import sys
import threading
import time

from kubernetes import client, watch
from kubernetes.client.rest import ApiException

cfg = client.Configuration()
cfg.host = sys.argv[1]
api_client = client.ApiClient(cfg)
core = client.CoreV1Api(api_client)
apps = client.AppsV1Api(api_client)


def check(cond, what):
    if not cond:
        sys.exit(f"python client: {what}")


ns = "py-" + str(int(time.time() * 1000) % 100000)
core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
check(any(n.metadata.name == ns for n in core.list_namespace().items), "namespace not listed")

labels = {"app": "web"}
deployment = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="web", labels=labels),
    spec=client.V1DeploymentSpec(
        replicas=2,
        selector=client.V1LabelSelector(match_labels=labels),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels=labels),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx:1.25",
                                                                 ports=[client.V1ContainerPort(container_port=80)])]))))
created = apps.create_namespaced_deployment(ns, deployment)
check(created.spec.strategy.type == "RollingUpdate", "deployment defaults missing")
check(created.metadata.generation == 1, "generation not 1")

# Watch pods in the background while we create, label and delete some.
events = []
def watch_pods():
    w = watch.Watch()
    for e in w.stream(core.list_namespaced_pod, ns, label_selector="app=web", timeout_seconds=5):
        events.append((e["type"], e["object"].metadata.name))
        if len(events) >= 4:
            w.stop()
t = threading.Thread(target=watch_pods)
t.start()
time.sleep(0.5)

for i in range(3):
    core.create_namespaced_pod(ns, client.V1Pod(
        metadata=client.V1ObjectMeta(name=f"p{i}", labels=labels),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")])))
core.patch_namespaced_pod("p0", ns, {"metadata": {"labels": {"tier": "front"}}})
t.join(timeout=10)
check([e[0] for e in events] == ["ADDED", "ADDED", "ADDED", "MODIFIED"], f"watch events: {events}")

pods = core.list_namespaced_pod(ns, label_selector="tier=front")
check([p.metadata.name for p in pods.items] == ["p0"], "label selector list")
page = core.list_namespaced_pod(ns, limit=2)
check(len(page.items) == 2 and page.metadata._continue, "first page")
rest = core.list_namespaced_pod(ns, limit=2, _continue=page.metadata._continue)
check(len(rest.items) == 1, "second page")

scale = apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 5}})
check(scale.spec.replicas == 5, "scale")
check(apps.read_namespaced_deployment("web", ns).spec.replicas == 5, "scaled deployment")

try:
    core.read_namespaced_pod("missing", ns)
    check(False, "missing pod read")
except ApiException as e:
    check(e.status == 404, f"missing pod status {e.status}")

try:
    stale = core.read_namespaced_pod("p1", ns)
    stale.metadata.labels["round"] = "1"
    core.replace_namespaced_pod("p1", ns, stale)
    stale.metadata.labels["round"] = "2"
    core.replace_namespaced_pod("p1", ns, stale)
    check(False, "stale replace accepted")
except ApiException as e:
    check(e.status == 409, f"stale replace status {e.status}")

# The resource metrics API and the APIService announcing it (no node reports yet: empty lists).
metrics = client.CustomObjectsApi(api_client)
node_metrics = metrics.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")
check(node_metrics["kind"] == "NodeMetricsList" and node_metrics["items"] == [], f"node metrics: {node_metrics}")
pod_metrics = metrics.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", ns, "pods", label_selector="app=web")
check(pod_metrics["kind"] == "PodMetricsList", f"pod metrics: {pod_metrics}")
service = client.ApiregistrationV1Api(api_client).read_api_service("v1beta1.metrics.k8s.io")
check(service.spec.group == "metrics.k8s.io" and service.spec.service is None, "metrics APIService spec")
check([(c.type, c.status) for c in service.status.conditions] == [("Available", "True")], "metrics APIService available")

# Resource governance: the built-in classes, a LimitRange's defaults, a quota refusing a pod.
scheduling = client.SchedulingV1Api(api_client)
names = {c.metadata.name for c in scheduling.list_priority_class().items}
check({"system-node-critical", "system-cluster-critical"} <= names, f"priority classes: {names}")
core.create_namespaced_limit_range(ns, client.V1LimitRange(
    metadata=client.V1ObjectMeta(name="defaults"),
    spec=client.V1LimitRangeSpec(limits=[client.V1LimitRangeItem(type="Container", default={"memory": "64Mi"})])))
check(core.read_namespaced_limit_range("defaults", ns).spec.limits[0].default_request == {"memory": "64Mi"},
      "limit range default request")
quota = core.create_namespaced_resource_quota(ns, client.V1ResourceQuota(
    metadata=client.V1ObjectMeta(name="pods"), spec=client.V1ResourceQuotaSpec(hard={"pods": "3"})))
quota.status = client.V1ResourceQuotaStatus(hard={"pods": "3"}, used={"pods": "3"})
core.replace_namespaced_resource_quota_status("pods", ns, quota)
try:
    core.create_namespaced_pod(ns, client.V1Pod(
        metadata=client.V1ObjectMeta(name="extra"), spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")])))
    check(False, "pod over quota")
except ApiException as e:
    check(e.status == 403 and "exceeded quota: pods, requested: pods=1, used: pods=3, limited: pods=3" in e.body, f"quota refusal {e.status} {e.body}")

# The reviews (a plain-HTTP master lets every caller do anything and authenticates no tokens).
authz = client.AuthorizationV1Api(api_client)
can = authz.create_self_subject_access_review(client.V1SelfSubjectAccessReview(
    spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes(verb="get", resource="pods", namespace=ns))))
check(can.status.allowed is True, "self subject access review")
sar = authz.create_subject_access_review(client.V1SubjectAccessReview(
    spec=client.V1SubjectAccessReviewSpec(user="jane", non_resource_attributes=client.V1NonResourceAttributes(path="/metrics", verb="get"))))
check(sar.status.allowed is True and sar.spec.user == "jane", "subject access review")
review = client.AuthenticationV1Api(api_client).create_token_review(client.V1TokenReview(spec=client.V1TokenReviewSpec(token="nobody")))
check(review.status.authenticated is False and review.status.error, "token review")

core.delete_namespace(ns)
for _ in range(50):
    try:
        core.read_namespace(ns)
        time.sleep(0.1)
    except ApiException as e:
        check(e.status == 404, "namespace read after delete")
        break
else:
    check(False, "namespace never went away")
print("python client: ok")
