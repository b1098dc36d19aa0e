"""Benchmark: the demo's real pre-training (its world, tokenizer, packing, gate probes) for a fixed number of
steps, in one process with 2 threads against 2 data-parallel ranks with 1 thread each (see
pretrain_ranks.md).

    python benchmarks/pretrain_ranks.py WORLD_STAGE_DIR [--steps 200] [--repeats 2]

WORLD_STAGE_DIR is a demo run's world stage (`RUN/stages/world-*`). The layouts run alternately, so that
a machine's drift hits both alike. Prints wall time, ms per step (the loop's own clock) and the gate
values at the end, and writes them as JSON next to this script's output folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from valuesfirst.jsonl import read_jsonl  # noqa: E402
from valuesfirst.train.pretrain import pretrain  # noqa: E402
from valuesfirst.train.pretrain_config import PretrainConfig  # noqa: E402
from valuesfirst.yamlio import load_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = {
    "1 process x 2 threads": {"ranks": 1, "threads": 2},
    "2 ranks x 1 thread": {"ranks": 2, "threads": 1},
}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("world", type=Path)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    texts = [r["text"] for r in read_jsonl(args.world / "pretrain.jsonl")]
    gates = read_jsonl(args.world / "gates.jsonl")
    demo = load_yaml(ROOT / "src/valuesfirst/configs/demo.yaml")[0]["pretrain"]
    fixed = {**demo, "min_steps": args.steps, "max_steps": args.steps, "probe_every": args.steps}
    fixed["anneal_steps"] = 0
    rows = []
    for rep in range(args.repeats):
        for name, layout in LAYOUTS.items():
            cfg = PretrainConfig.model_validate({**fixed, **layout})
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                info = pretrain(texts, gates, cfg, Path(tmp) / "model")
                wall = time.perf_counter() - t
            row = {
                "repeat": rep,
                "layout": name,
                "wall_s": round(wall, 1),
                "ms_per_step": round(info["seconds"] / info["steps"] * 1000, 1),
                "loss_last": round(info["loss_last"], 4),
                "gates": {k: round(v["value"], 3) for k, v in info["gates"].items()},
                "vocab_size": info["vocab_size"],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = {"cpu": cpu_model(), "steps": args.steps, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
