"""Workload controller benchmarks for hack/bench/workloads.sh (stdlib only).

  workloads.py fill URL NAMESPACE COUNT       COUNT pods (unscheduled) as background objects
  workloads.py reaction URL KIND SAMPLES      object written -> first child pod seen (watch), p50/p99
                                             KIND: job or replicaset (the anchor)
  workloads.py daemonset URL NODES           NODES fake nodes, then a DaemonSet: time to NODES pods
                                             (and a ReplicaSet of NODES replicas as the anchor)
  workloads.py job URL COMPLETIONS PARALLEL  a Job of /bin/true: wall time to Complete, pods/s
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor


class API:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.local = threading.local()

    def conn(self):
        if not hasattr(self.local, "c"):
            self.local.c = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return self.local.c

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        c = self.conn()
        c.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        payload = r.read()
        if r.status >= 300 and r.status != 409:
            raise RuntimeError(f"{method} {path}: {r.status} {payload[:300]!r}")
        return json.loads(payload) if payload else {}

    def watch(self, path, on_event, stop, types=("ADDED",)):
        """Calls on_event(obj) for each event of `types` until stop is set (own connection, own thread)."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=300)
        c.request("GET", path + ("&" if "?" in path else "?") + "watch=true&resourceVersion=0")
        r = c.getresponse()
        buf = b""
        while not stop.is_set():
            chunk = r.read1(65536)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    e = json.loads(line)
                    if e.get("type") in types:
                        on_event(e["object"])


def ensure_namespace(api, name):
    api.call("POST", "/api/v1/namespaces", {"metadata": {"name": name}})


def pod_template(labels, command, restart="Always", **spec):
    return {"metadata": {"labels": labels},
            "spec": spec | {"restartPolicy": restart,
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                                     "command": command}]}}


def fill(api, ns, count):
    ensure_namespace(api, ns)
    pod = {"metadata": {"generateName": "fill-", "labels": {"app": "fill"}}, "spec": pod_template({}, ["sleep", "3600"])["spec"]}
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda _: api.call("POST", f"/api/v1/namespaces/{ns}/pods", pod), range(count)))


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def reaction(api, kind, samples):
    ns = f"react-{kind}"
    ensure_namespace(api, ns)
    seen = {}
    cv = threading.Condition()
    stop = threading.Event()

    def on_pod(pod):
        owner = pod["metadata"].get("labels", {}).get("bench-owner")
        with cv:
            if owner and owner not in seen:
                seen[owner] = time.perf_counter()
                cv.notify_all()

    threading.Thread(target=api.watch, args=(f"/api/v1/namespaces/{ns}/pods?labelSelector=bench-owner", on_pod, stop), daemon=True).start()
    time.sleep(0.5)
    latencies = []
    for i in range(samples):
        name = f"{kind}-{i}"
        labels = {"bench-owner": name}
        if kind == "job":
            body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                    "spec": {"template": pod_template(labels, ["sleep", "3600"], restart="Never")}}
            path = f"/apis/batch/v1/namespaces/{ns}/jobs"
        else:
            body = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
                    "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": pod_template(labels, ["sleep", "3600"])}}
            path = f"/apis/apps/v1/namespaces/{ns}/replicasets"
        start = time.perf_counter()
        api.call("POST", path, body)
        with cv:
            cv.wait_for(lambda: name in seen, timeout=30)
        if name not in seen:
            raise RuntimeError(f"{kind} {name}: no pod within 30 s")
        latencies.append((seen[name] - start) * 1000)
    stop.set()
    print(f"{kind:10s} reaction over {samples} objects: p50 {percentile(latencies, 50):.1f} ms  "
          f"p99 {percentile(latencies, 99):.1f} ms  max {max(latencies):.1f} ms")


def count_pods(api, ns, selector, want, timeout):
    """Seconds until `want` pods matching selector exist (polling the list, 20 ms apart)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        items = api.call("GET", f"/api/v1/namespaces/{ns}/pods?labelSelector={selector}").get("items", [])
        if len(items) >= want:
            return time.perf_counter() - start
        time.sleep(0.02)
    raise RuntimeError(f"only {len(items)} of {want} pods after {timeout} s")


def daemonset(api, nodes):
    ns = "ds-bench"
    ensure_namespace(api, ns)
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda i: api.call("POST", "/api/v1/nodes", {"metadata": {"name": f"sim-{i}", "labels": {"sim": "yes"}}}), range(nodes)))
    labels = {"app": "daemon"}
    body = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "daemon"},
            "spec": {"selector": {"matchLabels": labels}, "template": pod_template(labels, ["sleep", "3600"], nodeSelector={"sim": "yes"})}}
    start = time.perf_counter()
    api.call("POST", f"/apis/apps/v1/namespaces/{ns}/daemonsets", body)
    t = count_pods(api, ns, "app%3Ddaemon", nodes, 60)
    print(f"DaemonSet  on {nodes} simulated nodes: {nodes} pods created in {t * 1000:.0f} ms")
    labels = {"app": "anchor"}
    body = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "anchor"},
            "spec": {"replicas": nodes, "selector": {"matchLabels": labels}, "template": pod_template(labels, ["sleep", "3600"])}}
    start = time.perf_counter()
    api.call("POST", f"/apis/apps/v1/namespaces/{ns}/replicasets", body)
    t = count_pods(api, ns, "app%3Danchor", nodes, 60)
    print(f"ReplicaSet of {nodes} replicas (anchor):  {nodes} pods created in {t * 1000:.0f} ms")


def job(api, completions, parallelism):
    ns = "job-bench"
    ensure_namespace(api, ns)
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "burst"},
            "spec": {"completions": completions, "parallelism": parallelism, "backoffLimit": completions,
                     "template": pod_template({"app": "burst"}, ["/bin/true"], restart="Never")}}
    start = time.perf_counter()
    api.call("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", body)
    while True:
        status = api.call("GET", f"/apis/batch/v1/namespaces/{ns}/jobs/burst").get("status", {})
        done = [c for c in status.get("conditions", []) if c["status"] == "True" and c["type"] in ("Complete", "Failed")]
        if done:
            break
        if time.perf_counter() - start > 1800:
            raise RuntimeError(f"not done after 30 min: {status}")
        time.sleep(0.2)
    wall = time.perf_counter() - start
    print(f"Job of {completions} x /bin/true, parallelism {parallelism}: {done[0]['type']} in {wall:.1f} s "
          f"= {status.get('succeeded', 0) / wall:.1f} pods/s completed (failed: {status.get('failed', 0)})")
    # A failed /bin/true pod costs the Job a 10 s back-off: say why it failed (the cluster is gone after).
    if status.get("failed", 0):
        pods = api.call("GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3Dburst").get("items", [])
        for pod in [p for p in pods if p.get("status", {}).get("phase") == "Failed"][:3]:
            st = pod["status"]
            print(f"  failed pod {pod['metadata']['name']}: reason={st.get('reason')} message={st.get('message')} "
                  f"states={json.dumps({c['name']: c.get('state') for c in st.get('containerStatuses') or []})[:600]}")


if __name__ == "__main__":
    cmd, url = sys.argv[1], sys.argv[2]
    api = API(url)
    if cmd == "fill":
        fill(api, sys.argv[3], int(sys.argv[4]))
    elif cmd == "reaction":
        reaction(api, sys.argv[3], int(sys.argv[4]))
    elif cmd == "daemonset":
        daemonset(api, int(sys.argv[3]))
    elif cmd == "job":
        job(api, int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
