"""A node server that only answers /stats/summary, for many simulated pods at once: the metrics
pipeline's test double (APIServerTests) and the load of hack/bench/metrics.sh.

usage: fake_stats_summary.py NODE PODS NAMESPACE [--containers N] [--port P]

Pod i is NAMESPACE/pod-<i>; each container of it uses (i+1) * 10 millicores and (i+1) Mi of
memory, so sorted output is predictable; the node uses 250 millicores and 1 Gi. Counters grow
with real time. Prints the bound port on the first line of stdout, then serves until killed."""
import argparse
import http.server
import sys
import time
from datetime import datetime, timezone

args = argparse.ArgumentParser()
args.add_argument("node")
args.add_argument("pods", type=int)
args.add_argument("namespace")
args.add_argument("--containers", type=int, default=1)
args.add_argument("--port", type=int, default=0)
opts = args.parse_args()

started = time.time() - 3600  # everything "started" an hour ago: no fresh-container shortcut
MI = 1 << 20


def stamp(t, micro=True):
    d = datetime.fromtimestamp(t, timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


start_text = stamp(started, micro=False)
names = ["app"] + [f"side{c}" for c in range(1, opts.containers)]


def summary():
    now = time.time()
    t = stamp(now)
    up = now - started
    pods = []
    for i in range(opts.pods):
        cores = (i + 1) * 0.01
        used = int(up * cores * 1e9)
        containers = ",".join(
            f'{{"name":"{n}","startTime":"{start_text}","cpu":{{"time":"{t}","usageCoreNanoSeconds":{used}}},'
            f'"memory":{{"time":"{t}","usageBytes":{(i + 2) * MI},"workingSetBytes":{(i + 1) * MI}}}}}'
            for n in names)
        pods.append(f'{{"podRef":{{"name":"pod-{i}","namespace":"{opts.namespace}","uid":"fake-{i}"}},'
                    f'"startTime":"{start_text}","containers":[{containers}]}}')
    node = (f'{{"nodeName":"{opts.node}","startTime":"{start_text}","cpu":{{"time":"{t}",'
            f'"usageCoreNanoSeconds":{int(up * 0.25e9)}}},"memory":{{"time":"{t}","workingSetBytes":{1 << 30}}}}}')
    return f'{{"node":{node},"pods":[{",".join(pods)}]}}'.encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path != "/stats/summary":
            self.send_error(404)
            return
        body = summary()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
print(server.server_address[1], flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
