"""proxy_live.py KUBECONFIG NETNS MODE ROUNDS — hack/bench/proxy-live.sh's measurement: a selectorless
Service with one EndpointSlice; each round patches the slice to a new address, then polls the
proxy's rules inside NETNS (iptables-save or the nftables endpoints map) until the address is
there. Prints p50/p90/max of PATCH sent → rules show it. The poll itself costs a few ms (a
process per look), so the figures are upper bounds."""
import base64
import json
import re
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

kubeconfig, netns, mode, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

# The admin kubeconfig the master wrote: its server, CA and client certificate (inline, base64).
text = open(kubeconfig).read()
field = lambda name: re.search(name + r":\s*\"?([^\s\"]+)", text).group(1)
api = field("server")
context = ssl.create_default_context()
tmp = tempfile.mkdtemp()
for name, data in (("ca", "certificate-authority-data"), ("cert", "client-certificate-data"), ("key", "client-key-data")):
    with open(f"{tmp}/{name}.pem", "wb") as f:
        f.write(base64.b64decode(field(data)))
context.load_verify_locations(f"{tmp}/ca.pem")
context.load_cert_chain(f"{tmp}/cert.pem", f"{tmp}/key.pem")


def call(method, path, body, ctype="application/json"):
    req = urllib.request.Request(api + path, method=method, data=json.dumps(body).encode(), headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, context=context) as r:
        return json.load(r)


def rules():
    cmd = ["iptables-save", "-t", "nat"] if mode == "iptables" else ["nft", "list", "map", "ip", "skiff-proxy", "endpoints"]
    return subprocess.run(["nsenter", "--net=/var/run/netns/" + netns] + cmd, capture_output=True, text=True).stdout


def shows(ip):
    return (f"--to-destination {ip}:8080" if mode == "iptables" else f"{ip} . 8080") in rules()


def wait_for(ip, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if shows(ip):
            return True
    return False


call("POST", "/api/v1/namespaces/default/services",
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "latency"}, "spec": {"ports": [{"port": 80, "targetPort": 8080}]}})
slice_path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
call("POST", slice_path, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                          "metadata": {"name": "latency-1", "labels": {"kubernetes.io/service-name": "latency"}},
                          "addressType": "IPv4", "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
                          "endpoints": [{"addresses": ["10.244.200.1"], "conditions": {"ready": True}}]})
if not wait_for("10.244.200.1", 30):
    sys.exit(f"{mode}: the proxy never programmed the first endpoint")
samples = []
for i in range(rounds):
    ip = f"10.244.200.{i + 2}"
    time.sleep(0.2)   # rounds apart: each one is a lone change, not part of a burst
    start = time.monotonic()
    call("PATCH", slice_path + "/latency-1", {"endpoints": [{"addresses": [ip], "conditions": {"ready": True}}]},
         ctype="application/merge-patch+json")
    if not wait_for(ip):
        sys.exit(f"{mode}: {ip} never showed up in the rules")
    samples.append((time.monotonic() - start) * 1000)
samples.sort()
pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
print(f"{mode}: endpoint change → rules applied on node1 (live cluster, {rounds} rounds): "
      f"p50 {pick(0.5):.1f} ms, p90 {pick(0.9):.1f} ms, max {samples[-1]:.1f} ms")
