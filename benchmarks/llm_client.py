"""Benchmark the LLM client layer (results: benchmarks/llm_client.md, benchmarks/llm_concurrency.png).

(a) Overhead: ScriptedBackend with zero latency through LLMClient with the disk cache on, plus a prompt
    templating step before and a tag-parsing step after each request (what a generation stage does).
    Cold = cache misses + atomic cache writes; warm = cache hits.
(b) Concurrency: the loopback server answers after 200 ms; throughput through the real ``openai`` client
    against ``ClientConfig.concurrency`` = 1, 2, 4, ..., 128.

Usage: python benchmarks/llm_client.py [N_OVERHEAD] [--no-plot]
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from loopback_llm import LoopbackLLM, ok  # noqa: E402

from valuesfirst.llm.client import ClientConfig, LLMClient  # noqa: E402
from valuesfirst.llm.openai_compat import OpenAICompatBackend  # noqa: E402
from valuesfirst.llm.scripted import ScriptedBackend  # noqa: E402
from valuesfirst.llm.types import ChatRequest  # noqa: E402

TEMPLATE = (
    "You are writing a {doc_type} about the value {value}.\n"
    "Idea: {idea}\nWrite the document between <document> and </document> tags."
)
TAG = re.compile(r"<document>(.*?)</document>", re.S)


def _requests(n: int) -> list[ChatRequest]:
    return [
        ChatRequest.of(
            TEMPLATE.format(doc_type="news article", value="honesty", idea=f"idea number {i}"), stage="docs"
        )
        for i in range(n)
    ]


async def _overhead_pass(client: LLMClient, n: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    responses = await client.complete_many(_requests(n))  # templating happens inside _requests
    kept = sum(1 for r in responses if TAG.search(r.text))
    return time.perf_counter() - t0, kept


def overhead(n: int, repeats: int = 3) -> dict[str, list[float]]:
    """req/s per mode, one entry per repeat (a fresh cache dir each time)."""
    backend = ScriptedBackend(lambda r: f"<document>text for {r.messages[0].content[-14:]}</document>")
    results: dict[str, list[float]] = {"cold": [], "warm": [], "no cache": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            for label in ("cold", "warm"):
                client = LLMClient(backend, ClientConfig(cache_dir=Path(tmp), concurrency=64))
                dt, kept = asyncio.run(_overhead_pass(client, n))
                assert kept == n, f"{label}: parsed {kept}/{n}"
                results[label].append(n / dt)
        no_cache = LLMClient(backend, ClientConfig(concurrency=64))
        dt, _ = asyncio.run(_overhead_pass(no_cache, n))
        results["no cache"].append(n / dt)
    return results


async def _concurrency_pass(base_url: str, concurrency: int, n: int) -> tuple[float, float]:
    backend = OpenAICompatBackend("bench", base_url=base_url, api_key="unused", timeout_s=30)
    client = LLMClient(backend, ClientConfig(concurrency=concurrency))
    reqs = [ChatRequest.of(f"q{i}", sample=i) for i in range(n)]
    await client.complete_many(reqs[: min(concurrency, 8)])  # warm the connection pool
    t0, cpu0 = time.perf_counter(), time.process_time()
    out = await client.complete_many(reqs)
    dt, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await client.aclose()
    assert all(r.finish_reason == "stop" for r in out)
    return n / dt, 1000 * cpu / n


def serve(latency: float) -> None:
    """Run the loopback server in this process until stdin closes (the sweep's server subprocess, so the
    server's threads do not compete with the client for this interpreter's GIL)."""
    with LoopbackLLM(lambda call: ok("answer " + call.last_user, delay_s=latency)) as server:
        print(server.openai_base_url, flush=True)
        sys.stdin.read()


def concurrency_sweep(latency: float = 0.2) -> list[tuple[int, int, float]]:
    import subprocess

    rows = []
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        for c in (1, 2, 4, 8, 16, 32, 64, 128):
            n = max(16, 4 * c)
            rps, cpu_ms = asyncio.run(_concurrency_pass(base_url, c, n))
            rows.append((c, n, rps))
            print(
                f"concurrency {c:4d}  n={n:4d}  {rps:7.1f} req/s  (ideal {c / latency:6.1f})  "
                f"client CPU {cpu_ms:5.1f} ms/request",
                flush=True,
            )
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
    return rows


def plot(rows: list[tuple[int, int, float]], latency: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cs = [r[0] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(cs, [r[2] for r in rows], "o-", label="measured (openai SDK → loopback)")
    ax.plot(cs, [c / latency for c in cs], "--", color="grey", label=f"ideal: concurrency / {latency:g} s")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("ClientConfig.concurrency")
    ax.set_ylabel("requests / s")
    ax.set_title("LLMClient throughput, 200 ms server latency (2-core CPU, shared)", fontsize=10)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(float(sys.argv[2]))
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 5000
    for label, runs in overhead(n).items():
        runs.sort()
        median, low, high = runs[len(runs) // 2], runs[0], runs[-1]
        print(
            f"overhead {label:9s} median {median:7.0f} req/s  min {low:7.0f}  max {high:7.0f}"
            f"  (n={n}, {len(runs)} runs)",
            flush=True,
        )
    rows = concurrency_sweep()
    if "--no-plot" not in sys.argv:
        plot(rows, 0.2, HERE / "llm_concurrency.png")


if __name__ == "__main__":
    main()
