#!/usr/bin/env python3
"""hack/bench/dns.sh's API side: creates Services and EndpointSlices over one keep-alive
connection, writes the same records as a hosts file for dnsmasq and a dnsperf query file, and
times name propagation (API write accepted -> the DNS answers it).

  dns_api.py populate SERVER COUNT DIR    COUNT services (half headless), 3 endpoints each
  dns_api.py bulk SERVER COUNT            COUNT ClusterIP services in namespace bulk (RSS check)
  dns_api.py propagate SERVER DNSPORT N   N creates and N endpoint removals, p50/p99 in ms
"""
import http.client
import json
import random
import socket
import struct
import sys
import time
import urllib.parse


class API:
    def __init__(self, server):
        u = urllib.parse.urlparse(server)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        payload = r.read()
        if r.status >= 300 and r.status != 409:
            raise SystemExit(f"{method} {path}: {r.status} {payload[:300]!r}")
        return json.loads(payload) if payload else {}

    def namespace(self, name):
        self.call("POST", "/api/v1/namespaces", {"metadata": {"name": name}})

    def service(self, ns, name, headless):
        spec = {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
        if headless:
            spec["clusterIP"] = "None"
        return self.call("POST", f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": name}, "spec": spec})

    def slice(self, ns, service, ips):
        # A selector-less Service's slice, written by hand as users (and operators) do.
        body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                "metadata": {"name": service + "-1", "labels": {"kubernetes.io/service-name": service}},
                "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
        return self.call("POST", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", body)


def endpoint_ips(i):
    return [f"10.{200 + (i >> 14)}.{(i >> 6) & 0xff}.{((i & 0x3f) << 2) + k + 1}" for k in range(3)]


def populate(server, count, out):
    api = API(server)
    api.namespace("bench")
    hosts, names = [], []
    for i in range(count):
        name, headless = f"svc-{i}", i % 2 == 1
        svc = api.service("bench", name, headless)
        ips = endpoint_ips(i)
        api.slice("bench", name, ips)
        fqdn = f"{name}.bench.svc.cluster.local"
        if headless:
            hosts += [f"{ip} {fqdn}" for ip in ips]
        else:
            hosts.append(f"{svc['spec']['clusterIP']} {fqdn}")
        names.append((fqdn, headless))
    with open(f"{out}/hosts", "w") as f:
        f.write("\n".join(hosts) + "\n")
    # The mix: 60% ClusterIP names, 20% headless names, 20% names that don't exist.
    rng = random.Random(7)
    cluster = [n for n, h in names if not h]
    headless = [n for n, h in names if h]
    with open(f"{out}/queries", "w") as f:
        for _ in range(20000):
            r = rng.random()
            if r < 0.6:
                f.write(f"{rng.choice(cluster)} A\n")
            elif r < 0.8:
                f.write(f"{rng.choice(headless)} A\n")
            else:
                f.write(f"missing-{rng.randrange(10**6)}.bench.svc.cluster.local A\n")


def bulk(server, count):
    api = API(server)
    api.namespace("bulk")
    for i in range(count):
        api.service("bulk", f"b-{i}", False)


def query(name, port, sock):
    qid = random.randrange(65536)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    packet += b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\x00\x00\x01\x00\x01"
    sock.sendto(packet, ("127.0.0.1", port))
    while True:
        data = sock.recv(4096)
        if data[:2] == packet[:2]:
            rcode, answers = data[3] & 0xF, struct.unpack(">H", data[6:8])[0]
            return rcode, answers


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def wait_for(name, port, sock, want):
    """Polls until the answer count satisfies want(); returns when it does."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, answers = query(name, port, sock)
        if want(answers):
            return time.monotonic()
    raise SystemExit(f"{name}: no change within 10 s")


def propagate(server, port, n):
    api = API(server)
    api.namespace("prop")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    created, removed = [], []
    for i in range(n):
        name = f"p-{i}-{random.randrange(10**6)}"
        # Service created: from the API's 201 until its ClusterIP is answered.
        api.service("prop", name, False)
        accepted = time.monotonic()
        wait_for(f"{name}.prop.svc.cluster.local", port, sock, lambda a: a == 1)
        created.append((time.monotonic() - accepted) * 1000)
        # Endpoint removed: a headless Service's answer loses one address.
        api.service("prop", name + "-h", True)
        api.slice("prop", name + "-h", endpoint_ips(i))
        wait_for(f"{name}-h.prop.svc.cluster.local", port, sock, lambda a: a == 3)
        path = f"/apis/discovery.k8s.io/v1/namespaces/prop/endpointslices/{name}-h-1"
        sl = api.call("GET", path)
        sl["endpoints"] = sl["endpoints"][:2]
        api.call("PUT", path, sl)
        accepted = time.monotonic()
        wait_for(f"{name}-h.prop.svc.cluster.local", port, sock, lambda a: a == 2)
        removed.append((time.monotonic() - accepted) * 1000)
    for label, values in (("service created -> resolvable", created), ("endpoint removed -> gone", removed)):
        print(f"propagation {label}: p50 {percentile(values, 50):.1f} ms  p99 {percentile(values, 99):.1f} ms  "
              f"max {max(values):.1f} ms  (n={len(values)})")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "populate":
        populate(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "bulk":
        bulk(sys.argv[2], int(sys.argv[3]))
    elif cmd == "propagate":
        propagate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)
