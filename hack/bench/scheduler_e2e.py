"""End-to-end scheduling throughput (stdlib only): store nodes and pending pods through the API,
start `skiff scheduler`, and time until a watch has seen every pod bound.

  scheduler_e2e.py URL NODES PODS SKIFF
"""
import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

url, node_count, pod_count, skiff = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
u = urllib.parse.urlparse(url)
local = threading.local()


def post(path, body):
    if not hasattr(local, "c"):
        local.c = http.client.HTTPConnection(u.hostname, u.port)
    local.c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = local.c.getresponse()
    data = r.read()
    assert r.status == 201, (r.status, data[:200])


def node(i):
    taints = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}] if i % 10 == 0 else []
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"node-{i}", "labels": {"kubernetes.io/hostname": f"node-{i}",
                                                          "topology.kubernetes.io/zone": "abc"[i % 3],
                                                          "disk": "ssd" if i % 2 == 0 else "hdd"}},
            "spec": {"taints": taints},
            "status": {"allocatable": {"cpu": "32" if i % 4 == 0 else "16", "memory": "128Gi" if i % 4 == 0 else "64Gi", "pods": "110"},
                       "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(i):
    spec = {"containers": [{"name": "c", "image": "busybox",
                            "resources": {"requests": {"cpu": ["100m", "250m", "500m", "1"][i % 4],
                                                       "memory": ["128Mi", "256Mi", "512Mi", "1Gi"][(i // 4) % 4]}}}]}
    if i % 5 == 0:
        spec["affinity"] = {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 10, "preference": {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}}]}}
    if i % 7 == 0:
        spec["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i}", "namespace": "default"}, "spec": spec}


t = time.perf_counter()
with ThreadPoolExecutor(32) as ex:
    list(ex.map(lambda i: post("/api/v1/nodes", node(i)), range(node_count)))
    list(ex.map(lambda i: post("/api/v1/namespaces/default/pods", pod(i)), range(pod_count)))
print(f"stored {node_count} nodes and {pod_count} pods in {time.perf_counter() - t:.1f}s")

c = http.client.HTTPConnection(u.hostname, u.port)
c.request("GET", "/api/v1/namespaces/default/pods?limit=1")
rv = json.loads(c.getresponse().read())["metadata"]["resourceVersion"]
bound = set()
done = threading.Event()


def watch():
    w = http.client.HTTPConnection(u.hostname, u.port)
    w.request("GET", f"/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}")
    r = w.getresponse()
    while True:
        line = r.readline()
        if not line:
            return
        obj = json.loads(line)["object"]
        if obj.get("spec", {}).get("nodeName"):
            bound.add(obj["metadata"]["name"])
            if len(bound) == pod_count:
                done.set()
                return


threading.Thread(target=watch, daemon=True).start()
time.sleep(0.3)
start = time.perf_counter()
sched = subprocess.Popen([skiff, "scheduler", "--server", url], stderr=subprocess.DEVNULL)
try:
    done.wait(timeout=300)
    elapsed = time.perf_counter() - start
    print(f"end to end: {len(bound)}/{pod_count} pods bound in {elapsed:.2f}s = {len(bound) / elapsed:.0f} pods/s "
          f"(from starting the scheduler, its initial lists included)")
finally:
    sched.kill()
