"""Storage benchmarks for hack/bench/storage.sh (stdlib only; the API class is workloads.py's).

  storage.py latency URL N   N rounds of: a claim (default class, local-path, WaitForFirstConsumer)
                             and a pod using it, created together -> pod Running (its volume
                             provisioned, bound and mounted); beside each, the anchor: the same pod
                             with an emptyDir. p50/p99 of both. The pods are deleted after each
                             round (the claims stay).
  storage.py bind URL N      N claims of an Immediate local-path class at once -> all Bound (the
                             binder, the node's provisioner and the binder again); the anchor: N
                             pre-made volumes and N claims of a class without a provisioner ->
                             all Bound (the binder alone).
"""
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from workloads import API

NS = "/api/v1/namespaces/default"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def pod(name, volume):
    return {"metadata": {"name": name}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                        "command": ["sleep", "3600"], "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [dict(name="data", **volume)]}}


def claim(name, cls=None, size="16Mi"):
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"metadata": {"name": name}, "spec": spec}


class Waiter:
    """Watches a collection and wakes whoever waits for an object to reach a state."""

    def __init__(self, api, path, done):
        self.cond = threading.Condition()
        self.reached = {}
        self.done = done
        self.stop = threading.Event()
        threading.Thread(target=api.watch, args=(path, self.seen, self.stop, ("ADDED", "MODIFIED")), daemon=True).start()

    def seen(self, obj):
        if self.done(obj):
            with self.cond:
                self.reached.setdefault(obj["metadata"]["name"], time.monotonic())
                self.cond.notify_all()

    def wait(self, names, timeout=120):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(n in self.reached for n in names):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [n for n in names if n not in self.reached]
                    raise RuntimeError(f"timed out waiting for {missing[:5]} ({len(missing)} missing)")
                self.cond.wait(left)
            return max(self.reached[n] for n in names)


def latency(api, n):
    running = Waiter(api, NS + "/pods", lambda o: o.get("status", {}).get("phase") == "Running")
    time.sleep(0.5)
    with_claim, plain = [], []
    for i in range(n):
        t0 = time.monotonic()
        api.call("POST", NS + "/persistentvolumeclaims", claim(f"lat-{i}"))
        api.call("POST", NS + "/pods", pod(f"lat-{i}", {"persistentVolumeClaim": {"claimName": f"lat-{i}"}}))
        with_claim.append(running.wait([f"lat-{i}"]) - t0)
        t0 = time.monotonic()
        api.call("POST", NS + "/pods", pod(f"plain-{i}", {"emptyDir": {}}))
        plain.append(running.wait([f"plain-{i}"]) - t0)
        # The node's pod limit (110) is below 2 x rounds: each round's pods go when measured.
        for name in (f"lat-{i}", f"plain-{i}"):
            api.call("DELETE", NS + f"/pods/{name}?gracePeriodSeconds=0")
    bound = [c for c in api.call("GET", NS + "/persistentvolumeclaims")["items"] if c["status"].get("phase") == "Bound"]
    ms = lambda xs, p: pct(xs, p) * 1000
    print(f"claim + pod -> Running (volume provisioned, bound, mounted), {n} rounds: "
          f"p50 {ms(with_claim, 50):.0f} ms, p99 {ms(with_claim, 99):.0f} ms ({len(bound)} claims Bound)")
    print(f"anchor, pod with an emptyDir -> Running, same rounds: p50 {ms(plain, 50):.0f} ms, p99 {ms(plain, 99):.0f} ms")
    running.stop.set()


def bind(api, n):
    bound = Waiter(api, NS + "/persistentvolumeclaims", lambda o: o.get("status", {}).get("phase") == "Bound")
    api.call("POST", "/apis/storage.k8s.io/v1/storageclasses", {
        "metadata": {"name": "bench-immediate"}, "provisioner": "skiff.io/local-path", "volumeBindingMode": "Immediate"})
    api.call("POST", "/apis/storage.k8s.io/v1/storageclasses", {
        "metadata": {"name": "bench-static"}, "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate"})
    time.sleep(0.5)
    with ThreadPoolExecutor(8) as pool:
        names = [f"dyn-{i}" for i in range(n)]
        t0 = time.monotonic()
        list(pool.map(lambda name: api.call("POST", NS + "/persistentvolumeclaims", claim(name, "bench-immediate")), names))
        dynamic = bound.wait(names) - t0
        list(pool.map(lambda i: api.call("POST", "/api/v1/persistentvolumes", {"metadata": {"name": f"static-{i}"}, "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "bench-static",
            "hostPath": {"path": f"/nonexistent/static-{i}"}}}), range(n)))
        names = [f"st-{i}" for i in range(n)]
        t0 = time.monotonic()
        list(pool.map(lambda name: api.call("POST", NS + "/persistentvolumeclaims", claim(name, "bench-static")), names))
        static = bound.wait(names) - t0
    print(f"{n} claims of an Immediate local-path class -> all Bound (provisioned on the node): {dynamic:.2f} s")
    print(f"anchor, {n} claims onto {n} pre-made volumes -> all Bound (binder only): {static:.2f} s")
    bound.stop.set()


if __name__ == "__main__":
    api = API(sys.argv[2])
    {"latency": latency, "bind": bind}[sys.argv[1]](api, int(sys.argv[3]))
