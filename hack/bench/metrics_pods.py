"""Pods for hack/bench/metrics.sh (stdlib only).

  metrics_pods.py fake URL NODE PORT NS COUNT   namespace NS, a Ready Node NODE whose node server is
                                                127.0.0.1:PORT, and COUNT pods pod-<i> bound to it
  metrics_pods.py real URL NODE NS COUNT        COUNT busybox pods (host network: no CNI) on NODE,
                                                waiting until all run
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

mode, url = sys.argv[1], sys.argv[2]
u = urllib.parse.urlparse(url)


def call(method, path, body=None):
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request(method, path, json.dumps(body) if body is not None else None, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def post(path, body):
    status, data = call("POST", path, body)
    if status not in (201, 409):
        sys.exit(f"POST {path}: {status} {data[:200]!r}")


def create_pods(ns, count, spec):
    todo = list(range(count))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            post(f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": f"pod-{i}", "labels": {"app": "bench"}}, "spec": spec})

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if mode == "fake":
    node, port, ns, count = sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
    post("/api/v1/namespaces", {"metadata": {"name": ns}})
    alloc = {"cpu": "64", "memory": "256Gi", "pods": str(count + 10)}
    post("/api/v1/nodes", {"metadata": {"name": node}, "status": {
        "capacity": alloc, "allocatable": alloc, "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}, "conditions": [{"type": "Ready", "status": "True"}]}})
    create_pods(ns, count, {"nodeName": node, "containers": [{"name": "app", "image": "busybox"}]})
else:
    node, ns, count = sys.argv[3], sys.argv[4], int(sys.argv[5])
    post("/api/v1/namespaces", {"metadata": {"name": ns}})
    create_pods(ns, count, {"nodeName": node, "hostNetwork": True, "terminationGracePeriodSeconds": 0,
                            "containers": [{"name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                                            "command": ["sleep", "3600"]}]})
    deadline = time.time() + 300
    while time.time() < deadline:
        _, data = call("GET", f"/api/v1/namespaces/{ns}/pods")
        running = sum(1 for p in json.loads(data)["items"] if p.get("status", {}).get("phase") == "Running")
        if running == count:
            print(f"{count} pods running")
            sys.exit(0)
        time.sleep(1)
    sys.exit(f"only {running} of {count} pods running after 300 s")
