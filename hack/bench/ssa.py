#!/usr/bin/env python3
"""hack/bench/ssa.sh's client: N server-side applies of a 200-container Deployment, one image
changed each time, then the same change as N strategic merge patches; prints p50/p99 in ms."""
import http.client
import json
import sys
import time
import urllib.parse

server, n = sys.argv[1], int(sys.argv[2])
u = urllib.parse.urlparse(server)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
path = "/apis/apps/v1/namespaces/default/deployments/big"


def deployment(image):
    containers = [{"name": f"c{i}", "image": image if i == 0 else "busybox:1",
                   "ports": [{"containerPort": 8000 + i}], "env": [{"name": "INDEX", "value": str(i)}]}
                  for i in range(200)]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "big", "labels": {"app": "big"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "big"}},
                     "template": {"metadata": {"labels": {"app": "big"}}, "spec": {"containers": containers}}}}


def call(method, url, body, content_type):
    conn.request(method, url, body=body, headers={"Content-Type": content_type})
    r = conn.getresponse()
    payload = r.read()
    if r.status >= 300:
        sys.exit(f"{method} {url}: {r.status} {payload[:300]!r}")


def timed(make):
    samples = []
    for i in range(n):
        method, url, body, content_type = make(i)
        t = time.perf_counter()
        call(method, url, body, content_type)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]


apply_url = path + "?fieldManager=bench"
call("PATCH", apply_url, json.dumps(deployment("img:0")), "application/apply-patch+yaml")
ap50, ap99 = timed(lambda i: ("PATCH", apply_url, json.dumps(deployment(f"img:{i + 1}")), "application/apply-patch+yaml"))
patch = lambda i: ("PATCH", path + "?fieldManager=patcher",
                   json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "c0", "image": f"p:{i}"}]}}}}),
                   "application/strategic-merge-patch+json")
pp50, pp99 = timed(patch)
print(f"server-side apply, 200 containers: p50 {ap50:.2f} ms  p99 {ap99:.2f} ms  (goal p50 <= 5 ms)")
print(f"strategic merge patch, same object: p50 {pp50:.2f} ms  p99 {pp99:.2f} ms  (anchor)")
