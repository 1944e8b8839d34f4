"""Load helpers for hack/bench/api.sh (stdlib only; asyncio raw HTTP/1.1 on loopback).

  api_load.py fill URL NAMESPACE COUNT          create COUNT pods with 50 concurrent clients
  api_load.py watchers URL NAMESPACE N EVENTS   N watchers; EVENTS creates; print delivery latencies
  api_load.py rate URL NAMESPACE RATE SECONDS   open-loop creates at RATE/s (50 connections); latency percentiles
"""
import asyncio
import json
import sys
import time
import urllib.parse

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"generateName": "bench-", "labels": {"app": "bench", "tier": "load"}},
       "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"],
                                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}


async def request(reader, writer, host, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    writer.write(head.encode() + data)
    await writer.drain()
    status = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    payload = await reader.readexactly(length)
    return int(status.split()[1]), payload


async def fill(url, ns, count):
    u = urllib.parse.urlparse(url)
    todo = list(range(count))

    async def worker():
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        while todo:
            todo.pop()
            code, body = await request(reader, writer, u.netloc, "POST", f"/api/v1/namespaces/{ns}/pods", POD)
            if code != 201:
                sys.exit(f"create failed: {code} {body[:200]!r}")
        writer.close()

    await asyncio.gather(*[worker() for _ in range(50)])


async def watchers(url, ns, n, events):
    u = urllib.parse.urlparse(url)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    _, body = await request(reader, writer, u.netloc, "GET", f"/api/v1/namespaces/{ns}/pods?limit=1")
    rv = json.loads(body)["metadata"]["resourceVersion"]
    sent = {}          # pod name -> time its create was sent
    latencies = []
    ready = asyncio.Event()
    opened = 0

    async def watcher():
        nonlocal opened
        r, w = await asyncio.open_connection(u.hostname, u.port)
        w.write(f"GET /api/v1/namespaces/{ns}/pods?watch=true&resourceVersion={rv} HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n".encode())
        await w.drain()
        while (await r.readline()) not in (b"\r\n", b""):
            pass
        opened += 1
        if opened == n:
            ready.set()
        got = 0
        while got < events:
            size = int((await r.readline()).strip(), 16)
            chunk = await r.readexactly(size + 2)
            now = time.perf_counter()
            for line in chunk.split(b"\n"):
                if not line.strip():
                    continue
                name = json.loads(line)["object"]["metadata"]["name"]
                latencies.append(now - sent[name])
                got += 1
        w.close()

    tasks = [asyncio.create_task(watcher()) for _ in range(n)]
    await asyncio.wait_for(ready.wait(), 60)
    await asyncio.sleep(0.5)
    for i in range(events):
        name = f"watched-{i}"
        body = json.loads(json.dumps(POD))
        body["metadata"] = {"name": name, "labels": {"app": "watched"}}
        sent[name] = time.perf_counter()
        code, _ = await request(reader, writer, u.netloc, "POST", f"/api/v1/namespaces/{ns}/pods", body)
        if code != 201:
            sys.exit(f"create {name} failed: {code}")
        await asyncio.sleep(0.2)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    latencies.sort()
    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000
    print(f"watchers={n} events={events} deliveries={len(latencies)} "
          f"p50={pct(0.50):.1f}ms p99={pct(0.99):.1f}ms max={latencies[-1] * 1000:.1f}ms")


async def rate(url, ns, per_second, seconds):
    """Open loop: requests are due on a fixed schedule whatever the server's latency, and each
    latency counts from its due time (no coordinated omission)."""
    u = urllib.parse.urlparse(url)
    conns = 50
    latencies = []
    errors = 0
    start = time.perf_counter() + 0.2
    total = int(per_second * seconds)

    async def worker(k):
        nonlocal errors
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        for i in range(k, total, conns):
            due = start + i / per_second
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            code, _ = await request(reader, writer, u.netloc, "POST", f"/api/v1/namespaces/{ns}/pods", POD)
            if code != 201:
                errors += 1
            latencies.append(time.perf_counter() - due)
        writer.close()

    await asyncio.gather(*[worker(k) for k in range(conns)])
    elapsed = time.perf_counter() - start
    latencies.sort()
    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000
    print(f"offered={per_second}/s achieved={len(latencies) / elapsed:.0f}/s requests={len(latencies)} errors={errors} "
          f"p50={pct(0.50):.2f}ms p90={pct(0.90):.2f}ms p99={pct(0.99):.2f}ms max={latencies[-1] * 1000:.2f}ms")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "fill":
        asyncio.run(fill(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    elif mode == "watchers":
        asyncio.run(watchers(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    elif mode == "rate":
        asyncio.run(rate(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
