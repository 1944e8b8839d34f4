"""The official Python client's CustomObjectsApi and ApiextensionsV1Api against a Skiff master
(argv[1] is its URL). Exits non-zero with a message on the first thing that differs from Kubernetes."""
import sys
import time

from kubernetes import client, watch
from kubernetes.client.rest import ApiException

cfg = client.Configuration()
cfg.host = sys.argv[1]
api_client = client.ApiClient(cfg)
ext = client.ApiextensionsV1Api(api_client)
custom = client.CustomObjectsApi(api_client)
core = client.CoreV1Api(api_client)


def check(cond, what):
    if not cond:
        sys.exit(f"custom objects: {what}")


suffix = str(int(time.time() * 1000) % 100000)
group = f"py{suffix}.example.com"
ns = f"py-crd-{suffix}"
core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

schema = client.V1JSONSchemaProps(type="object", properties={
    "spec": client.V1JSONSchemaProps(type="object", properties={
        "cronSpec": client.V1JSONSchemaProps(type="string"),
        "replicas": client.V1JSONSchemaProps(type="integer", minimum=1, maximum=10),
    }),
    "status": client.V1JSONSchemaProps(type="object", x_kubernetes_preserve_unknown_fields=True),
})
crd = client.V1CustomResourceDefinition(
    metadata=client.V1ObjectMeta(name=f"crontabs.{group}"),
    spec=client.V1CustomResourceDefinitionSpec(
        group=group, scope="Namespaced",
        names=client.V1CustomResourceDefinitionNames(plural="crontabs", singular="crontab", kind="CronTab", short_names=["ct"]),
        versions=[client.V1CustomResourceDefinitionVersion(
            name="v1", served=True, storage=True,
            schema=client.V1CustomResourceValidation(open_apiv3_schema=schema),
            subresources=client.V1CustomResourceSubresources(status={}))]))
created = ext.create_custom_resource_definition(crd)
conditions = {c.type: c.status for c in (created.status.conditions or [])}
check(conditions.get("Established") == "True", f"definition not Established: {conditions}")

body = {"apiVersion": f"{group}/v1", "kind": "CronTab", "metadata": {"name": "tab"},
        "spec": {"cronSpec": "* * * * */5", "replicas": 2}}
obj = custom.create_namespaced_custom_object(group, "v1", ns, "crontabs", body)
check(obj["spec"]["replicas"] == 2, "created object differs")
got = custom.get_namespaced_custom_object(group, "v1", ns, "crontabs", "tab")
check(got["metadata"]["uid"] == obj["metadata"]["uid"], "get returned another object")
items = custom.list_namespaced_custom_object(group, "v1", ns, "crontabs")["items"]
check([i["metadata"]["name"] for i in items] == ["tab"], "list differs")
check(len(custom.list_cluster_custom_object(group, "v1", "crontabs")["items"]) == 1, "cluster-wide list differs")

patched = custom.patch_namespaced_custom_object(group, "v1", ns, "crontabs", "tab", {"spec": {"replicas": 4}})
check(patched["spec"]["replicas"] == 4, "patch not applied")
status = custom.patch_namespaced_custom_object_status(group, "v1", ns, "crontabs", "tab", {"status": {"phase": "Running"}})
check(status["status"]["phase"] == "Running", "status patch not applied")

try:
    custom.patch_namespaced_custom_object(group, "v1", ns, "crontabs", "tab", {"spec": {"replicas": 50}})
    sys.exit("custom objects: replicas 50 accepted")
except ApiException as e:
    check(e.status == 422, f"invalid patch answered {e.status}")
    check("spec.replicas in body should be less than or equal to 10" in e.body, f"message: {e.body}")

w = watch.Watch()
seen = []
for event in w.stream(custom.list_namespaced_custom_object, group, "v1", ns, "crontabs", timeout_seconds=2):
    seen.append((event["type"], event["object"]["metadata"]["name"]))
    w.stop()
check(seen == [("ADDED", "tab")], f"watch saw {seen}")

custom.delete_namespaced_custom_object(group, "v1", ns, "crontabs", "tab")
try:
    custom.get_namespaced_custom_object(group, "v1", ns, "crontabs", "tab")
    sys.exit("custom objects: deleted object still there")
except ApiException as e:
    check(e.status == 404, f"get after delete answered {e.status}")

ext.delete_custom_resource_definition(f"crontabs.{group}")
core.delete_namespace(ns)
print("custom objects: ok")
