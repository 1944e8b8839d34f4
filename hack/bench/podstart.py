"""Pod start latency through the API (stdlib only): create → Running seen on a watch.

  podstart.py URL NODE single N     N pods one after another: p50/p99 create→Running
  podstart.py URL NODE burst N      N pods created at once: time until all are Running
  podstart.py URL NODE clear 0      delete the benchmark's pods and wait until they are gone
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

url, node, mode, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
u = urllib.parse.urlparse(url)


def pod(name):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"bench": "podstart"}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "3600"]}]}}


def request(method, path, body=None):
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


running_at = {}
ready = threading.Event()
cond = threading.Condition()


def watch(rv):
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request("GET", f"/api/v1/namespaces/default/pods?watch=true&labelSelector=bench%3Dpodstart&resourceVersion={rv}")
    r = c.getresponse()
    ready.set()
    while True:
        line = r.readline()
        if not line:
            return
        ev = json.loads(line)
        obj = ev["object"]
        if obj.get("status", {}).get("phase") == "Running":
            name = obj["metadata"]["name"]
            with cond:
                if name not in running_at:
                    running_at[name] = time.perf_counter()
                    cond.notify_all()


if mode == "clear":
    _, body = request("GET", "/api/v1/namespaces/default/pods?labelSelector=bench%3Dpodstart")
    for item in json.loads(body)["items"]:
        request("DELETE", f"/api/v1/namespaces/default/pods/{item['metadata']['name']}", {"gracePeriodSeconds": 0})
    deadline = time.time() + 180
    while time.time() < deadline:
        _, body = request("GET", "/api/v1/namespaces/default/pods?labelSelector=bench%3Dpodstart")
        if not json.loads(body)["items"]:
            break
        time.sleep(0.5)
    sys.exit(0)

_, body = request("GET", "/api/v1/namespaces/default/pods?limit=1")
threading.Thread(target=watch, args=(json.loads(body)["metadata"]["resourceVersion"],), daemon=True).start()
ready.wait()
time.sleep(0.2)

if mode == "single":
    latencies = []
    for i in range(count):
        name = f"single-{i}"
        start = time.perf_counter()
        status, data = request("POST", "/api/v1/namespaces/default/pods", pod(name))
        assert status == 201, data
        with cond:
            cond.wait_for(lambda: name in running_at, timeout=30)
        latencies.append(running_at[name] - start)
        request("DELETE", f"/api/v1/namespaces/default/pods/{name}", {"gracePeriodSeconds": 0})
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000
    print(f"single pods: n={count} p50={pct(0.5):.1f}ms p99={pct(0.99):.1f}ms max={latencies[-1]*1000:.1f}ms")
else:
    names = [f"burst-{i}" for i in range(count)]
    start = time.perf_counter()
    threads = [threading.Thread(target=request, args=("POST", "/api/v1/namespaces/default/pods", pod(n))) for n in names]
    for t in threads: t.start()
    for t in threads: t.join()
    with cond:
        cond.wait_for(lambda: all(n in running_at for n in names), timeout=300)
    done = sum(1 for n in names if n in running_at)
    last = max(running_at[n] for n in names if n in running_at)
    print(f"burst: {done}/{count} pods Running {last - start:.2f}s after the first create")
