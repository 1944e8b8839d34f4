"""Custom resources vs ConfigMaps through the same API server (stdlib only; asyncio raw HTTP/1.1).

  crd_load.py URL NAMESPACE COUNT     for each kind: COUNT creates (20 connections), COUNT gets,
                                      20 lists of the namespace, a watch from resourceVersion 0
                                      (COUNT initial events) and one live watch of COUNT creates;
                                      prints ops/s per kind and the custom/ConfigMap ratio
"""
import asyncio
import json
import sys
import time
import urllib.parse

from api_load import request   # (the same raw HTTP/1.1 exchange as api.sh's load)

KINDS = {
    "configmaps": ("/api/v1/namespaces/{ns}/configmaps",
                   lambda i: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"o{i}"},
                              "data": {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image"}}),
    "crontabs": ("/apis/stable.example.com/v1/namespaces/{ns}/crontabs",
                 lambda i: {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": f"o{i}"},
                            "spec": {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image", "replicas": 2}}),
}
CONNECTIONS = 20


async def parallel(u, jobs, expect):
    """Runs (method, path, body) jobs over CONNECTIONS connections; returns ops/s."""
    todo = list(jobs)

    async def worker():
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        while todo:
            method, path, body = todo.pop()
            code, payload = await request(reader, writer, u.netloc, method, path, body)
            if code != expect:
                sys.exit(f"{method} {path}: {code} {payload[:300]!r}")
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(CONNECTIONS)])
    return len(jobs) / (time.perf_counter() - start)


async def watch_events(u, path, count, after=None):
    """Opens a watch and reads `count` events; `after` (a coroutine) runs once the watch is open."""
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n".encode())
    await writer.drain()
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    start = time.perf_counter()
    task = asyncio.ensure_future(after()) if after else None
    seen = 0
    while seen < count:
        size = int((await reader.readline()).strip(), 16)   # chunked: one event per chunk
        chunk = await reader.readexactly(size + 2)
        seen += chunk.count(b'"type":"ADDED"')
    elapsed = time.perf_counter() - start
    if task:
        await task
    writer.close()
    return count / elapsed


async def bench(url, ns, count):
    u = urllib.parse.urlparse(url)
    results = {}
    for kind, (template, make) in KINDS.items():
        base = template.format(ns=ns)
        r = {}
        r["create"] = await parallel(u, [("POST", base, make(i)) for i in range(count)], 201)
        r["get"] = await parallel(u, [("GET", f"{base}/o{i}", None) for i in range(count)], 200)
        r["list"] = await parallel(u, [("GET", base, None) for _ in range(20)], 200) * count   # objects listed per second
        r["watch-initial"] = await watch_events(u, f"{base}?watch=true&resourceVersion=0", count)
        live = base.replace(f"namespaces/{ns}", f"namespaces/{ns}-live")

        async def creates():
            await parallel(u, [("POST", live, make(i)) for i in range(count)], 201)

        r["watch-live"] = await watch_events(u, f"{live}?watch=true", count, creates)
        results[kind] = r
    print(f"{'':16}{'ConfigMaps/s':>14}{'CronTabs/s':>14}{'ratio':>8}")
    for op in results["configmaps"]:
        cm, ct = results["configmaps"][op], results["crontabs"][op]
        print(f"{op:16}{cm:14.0f}{ct:14.0f}{cm / ct:8.2f}")


if __name__ == "__main__":
    asyncio.run(bench(sys.argv[1], sys.argv[2], int(sys.argv[3])))
