"""Generation transports against zero-latency loopback servers: one client, several endpoints, Ray Data
(results: benchmarks/generation_throughput.md and .json).

Every mode answers the same N document-like requests (distinct prompts, the disk cache on and cold, as a
generate level runs them) from loopback OpenAI-compatible servers (``tests/loopback_llm.py``), each in its
own process, answering at once. Measured per mode: requests/s, and the CPU the transport spends per
request (this process plus every process it started, Ray's included; the servers' CPU is counted apart).

- ``raw``: the servers' own limit, from the cheapest client there is: pre-built HTTP/1.1 requests written
  to keep-alive sockets (asyncio streams), 32 connections per server, no parsing beyond Content-Length.
- ``client``: ``LLMClient`` + ``OpenAICompatBackend`` (the openai SDK), ``--concurrency 64``, one server.
- ``endpoints``: the same over two servers (``MultiEndpointBackend``, ``--base-url A,B``).
- ``ray``: ``RayEngine.complete_many`` (the ``--engine ray`` path: Ray Data's HttpRequestProcessorConfig,
  one processor per endpoint) on a local Ray cluster, one or two servers; its time includes starting the
  HTTP workers (a fresh pipeline per level), reported apart from a 16-request level.

Usage: nice -n 19 .venv/bin/python benchmarks/generation_throughput.py [N]   (default N=2000, ~3 min)
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

ANSWER = "<scratchpad>plan</scratchpad>\n<content>\nA short document.\n</content>"
PROMPT = "Write this document. Domain: cheese. Document type: essay. Idea: idea number {i}. " * 4
CONNECTIONS_PER_SERVER = 32
CLIENT_CONCURRENCY = 64


def serve() -> None:
    """One loopback server in this process until stdin closes (run as a subprocess: its threads then do
    not compete with the client for one interpreter's GIL)."""
    from loopback_llm import LoopbackLLM, ok

    with LoopbackLLM(lambda call: ok(ANSWER, input_tokens=60, output_tokens=12)) as server:
        print(server.openai_base_url, flush=True)
        sys.stdin.read()


class Servers:
    def __init__(self, n: int) -> None:
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
        self.procs = [subprocess.Popen([sys.executable, __file__, "--serve"], **pipes) for _ in range(n)]
        self.urls = [p.stdout.readline().strip() for p in self.procs if p.stdout is not None]

    @property
    def pids(self) -> set[int]:
        return {p.pid for p in self.procs}

    def close(self) -> None:
        for p in self.procs:
            if p.stdin is not None:
                p.stdin.close()
        for p in self.procs:
            p.wait(timeout=10)


class CpuMeter:
    """CPU seconds of this process and its descendants (Ray's processes among them), sampled every
    0.1 s so a process that exits mid-measurement keeps its last reading; ``servers`` are counted apart."""

    def __init__(self, servers: set[int]) -> None:
        import psutil

        self._psutil = psutil
        self.servers = servers
        self.seen: dict[int, float] = {}
        self.server_seen: dict[int, float] = {}
        self.worker_rss: dict[int, int] = {}  # Ray Data workers (ray::MapWorker): peak resident bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        me = self._psutil.Process()
        for proc in [me, *me.children(recursive=True)]:
            try:
                t = proc.cpu_times()
            except self._psutil.Error:
                continue
            book = self.server_seen if proc.pid in self.servers else self.seen
            book[proc.pid] = t.user + t.system
            try:
                if "MapWorker" in proc.name() or "MapWorker" in " ".join(proc.cmdline()[:1]):
                    rss = proc.memory_info().rss
                    self.worker_rss[proc.pid] = max(rss, self.worker_rss.get(proc.pid, 0))
            except self._psutil.Error:
                pass
        # this thread's own sampling counts against the client: a few ms a second, noted in the .md

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def __enter__(self) -> CpuMeter:
        self._sample()
        self.base, self.server_base = dict(self.seen), dict(self.server_seen)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def client_s(self) -> float:
        return sum(v - self.base.get(pid, 0.0) for pid, v in self.seen.items())

    @property
    def server_s(self) -> float:
        return sum(v - self.server_base.get(pid, 0.0) for pid, v in self.server_seen.items())


def _requests(n: int, offset: int = 0) -> list[Any]:
    from valuesfirst.llm.types import ChatRequest, SamplingParams

    params = SamplingParams(temperature=1.0, max_tokens=5000)
    return [ChatRequest.of(PROMPT.format(i=offset + i), params=params, stage="bench") for i in range(n)]


def _measure(servers: Servers, n: int, run: Callable[[], Any]) -> dict[str, float]:
    with CpuMeter(servers.pids) as meter:
        t0 = time.perf_counter()
        run()
        wall = time.perf_counter() - t0
    rss = sorted(meter.worker_rss.values())
    return {
        "n": n,
        "ray_workers": len(rss),
        "worker_rss_mb_median": round(rss[len(rss) // 2] / 2**20) if rss else None,
        "wall_s": round(wall, 3),
        "req_per_s": round(n / wall, 1),
        "client_cpu_ms_per_req": round(1000 * meter.client_s / n, 3),
        "server_cpu_ms_per_req": round(1000 * meter.server_s / n, 3),
    }


# -- raw: the servers' limit ---------------------------------------------------------------------------


async def _raw(urls: Sequence[str], n: int) -> None:
    from urllib.parse import urlsplit

    from valuesfirst.llm.openai_compat import OpenAICompatBackend

    body = json.dumps(OpenAICompatBackend("bench", base_url=urls[0], api_key="x").payload(_requests(1)[0]))
    left = [n]

    async def connection(url: str) -> None:
        parts = urlsplit(url)
        request = (
            f"POST {parts.path}/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        while left[0] > 0:
            left[0] -= 1
            writer.write(request)
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
        writer.close()

    await asyncio.gather(*(connection(u) for u in urls for _ in range(CONNECTIONS_PER_SERVER)))


# -- the async client, one or several endpoints --------------------------------------------------------


def _client_run(urls: Sequence[str], n: int, offset: int) -> Callable[[], None]:
    from valuesfirst.llm.client import ClientConfig, LLMClient
    from valuesfirst.llm.factory import backend_from_uri

    def run() -> None:
        async def go() -> None:
            with tempfile.TemporaryDirectory() as tmp:
                backend = backend_from_uri("vllm:bench", base_url=",".join(urls))
                client = LLMClient(backend, ClientConfig(concurrency=CLIENT_CONCURRENCY, cache_dir=Path(tmp)))
                out = await client.complete_many(_requests(n, offset))
                await client.aclose()
            assert all(r.finish_reason == "stop" and r.text == ANSWER for r in out)

        asyncio.run(go())

    return run


# -- Ray Data ------------------------------------------------------------------------------------------


def _ray_run(urls: Sequence[str], n: int, offset: int, workers: int, batch: int) -> Callable[[], None]:
    from valuesfirst.generate.config import RayEngineConfig
    from valuesfirst.generate.ray_engine import RayEngine
    from valuesfirst.llm.client import ClientConfig, LLMClient
    from valuesfirst.llm.factory import backend_from_uri

    def run() -> None:
        async def go() -> None:
            with tempfile.TemporaryDirectory() as tmp:
                backend = backend_from_uri("vllm:bench", base_url=",".join(urls))
                client = LLMClient(backend, ClientConfig(cache_dir=Path(tmp)))
                engine = RayEngine(RayEngineConfig(concurrency=workers, batch_size=batch), backend)
                out = await engine.complete_many(
                    client, _requests(n, offset), usable=lambda i, r: True, on_result=lambda i, r: None
                )
                await client.aclose()
            assert all(r.finish_reason == "stop" and r.text == ANSWER for r in out), out[0]

        asyncio.run(go())

    return run


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?")
    import ray

    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": model,
        "cpus": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
        "nice": os.nice(0),
        "python": platform.python_version(),
        "ray": ray.__version__,
    }


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve()
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    info = machine()
    results: dict[str, dict[str, float]] = {}
    servers = Servers(2)
    one, two = servers.urls[:1], servers.urls
    offset = [0]

    def fresh(k: int) -> int:  # distinct prompts for every mode: no answer is ever shared or cached
        offset[0] += k
        return offset[0] - k

    def record(name: str, k: int, run: Callable[[], Any]) -> None:
        results[name] = _measure(servers, k, run)
        print(f"{name:32s} {json.dumps(results[name])}", flush=True)

    def raw(urls: Sequence[str]) -> Callable[[], None]:
        return lambda: asyncio.run(_raw(urls, n))

    try:
        record("raw, 1 server", n, raw(one))
        record("raw, 2 servers", n, raw(two))
        record("client, 1 endpoint", n, _client_run(one, n, fresh(n)))
        record("endpoints, 2 endpoints", n, _client_run(two, n, fresh(n)))
        t0 = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False)
        info["ray_init_s"] = round(time.perf_counter() - t0, 2)
        record("ray, 2 endpoints, 16 requests", 16, _ray_run(two, 16, fresh(16), 4, 16))
        for workers, batch in ((4, 16), (4, 64), (8, 16), (2, 16)):
            record(f"ray, 2 endpoints, {workers}w x b{batch}", n, _ray_run(two, n, fresh(n), workers, batch))
        record("ray, 1 endpoint, 4w x b16", n, _ray_run(one, n, fresh(n), 4, 16))
    finally:
        ray.shutdown()
        servers.close()
    info["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    out = {"machine": info, "n": n, "results": results}
    (HERE / "generation_throughput.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
