"""Wall time of the embedded demo: cold, fully reused rerun, and a new run folder with the shared stage cache
(see demo_timing.md).

    python benchmarks/demo_timing.py [--out DIR] [--quick] [--skip-cold DIR]

1. cold: `valuesfirst demo --out DIR/cold` with an empty stage cache (VALUESFIRST_STAGE_CACHE=DIR/cache);
2. rerun: the same command again (every stage reused);
3. new folder: `--out DIR/second` with the cache the cold run filled (world and pre-training copied).
Prints the wall times, where the cold run's time went (by stage kind, from results.json), the CPU model and
whether claim 1 held, and writes it all to DIR/timing.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    return sorted({f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in text.split()})


def demo(out: Path, cache: Path, quick: bool) -> float:
    cmd = [str(Path(sys.executable).parent / "valuesfirst"), "demo", "--out", str(out)]
    cmd += ["--quick"] if quick else []
    env = {**os.environ, "VALUESFIRST_STAGE_CACHE": str(cache), "COLUMNS": "160"}
    t = time.perf_counter()
    with (out.parent / f"{out.name}.log").open("a", encoding="utf-8") as log:
        subprocess.run(cmd, check=True, env=env, stdout=log, stderr=subprocess.STDOUT)
    return round(time.perf_counter() - t, 1)


def by_kind(results: dict) -> dict[str, dict[str, float]]:
    """Compute seconds per stage kind (stages of the grid run two at a time, so these add up to more than
    the grid's wall time)."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"stages": 0, "seconds": 0.0})
    for s in results["stages"]:
        out[s["kind"]]["stages"] += 1
        out[s["kind"]]["seconds"] = round(out[s["kind"]]["seconds"] + (s.get("duration_s") or 0.0), 1)
    return dict(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/demo_timing"))
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / "cache"
    timing = {"cpu": cpu_model(), "cpu_flags": cpu_flags(), "cores": os.cpu_count(), "quick": args.quick,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}  # fmt: skip
    timing["cold_s"] = demo(args.out / "cold", cache, args.quick)
    print(f"cold: {timing['cold_s']} s", flush=True)
    timing["rerun_s"] = demo(args.out / "cold", cache, args.quick)
    print(f"rerun: {timing['rerun_s']} s", flush=True)
    timing["new_folder_s"] = demo(args.out / "second", cache, args.quick)
    print(f"new folder with the cache: {timing['new_folder_s']} s", flush=True)
    results = json.loads((args.out / "cold" / "results.json").read_text(encoding="utf-8"))
    timing["cold_by_kind"] = by_kind(results)
    timing["pretrain"] = {k: results["pretrain"].get(k) for k in ("steps", "anneal_from", "tokens_per_s")}
    timing["claims"] = {c["id"]: c["holds"] for c in results["claims"]}
    second = json.loads((args.out / "second" / "results.json").read_text(encoding="utf-8"))
    timing["same_results_in_new_folder"] = second["conditions"] == results["conditions"]
    (args.out / "timing.json").write_text(json.dumps(timing, indent=1), encoding="utf-8")
    print(json.dumps(timing, indent=1))


if __name__ == "__main__":
    main()
