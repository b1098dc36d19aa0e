"""Wall time of the `valuesfirst` command line to report an input error (see cli_startup.md).

    python benchmarks/cli_startup.py [--src SRC_DIR] [--repeat 3]

Runs each command in a fresh interpreter with PYTHONPATH=SRC_DIR (default: this checkout's src), from a
scratch folder holding the bad inputs, and prints the best of ``--repeat`` wall times, the exit code, the
number of stdout lines and whether torch was imported. To compare with an older commit:
``git archive COMMIT src | tar -x -C /tmp/old`` and pass ``--src /tmp/old/src``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIM = """
import sys
try:
    from valuesfirst.cli import app
    app()
finally:
    print("TORCH=" + str("torch" in sys.modules), file=sys.stderr)
"""
COMMANDS = {
    "--help": ["--help"],
    "--version": ["--version"],
    "run nope.yaml (missing file)": ["run", "nope.yaml"],
    "run typo_exp.yaml (unknown field)": ["run", "typo_exp.yaml"],
    "train typo_train.yaml (unknown field)": ["train", "typo_train.yaml"],
    "train nope.yaml (missing file)": ["train", "nope.yaml"],
    "eval agentic (no --model)": ["eval", "agentic"],
    "eval-compare --metric nope": [
        "eval-compare",
        "scores.jsonl",
        "--metric",
        "nope",
        "--a",
        "base",
        "--b",
        "x",
    ],  # fmt: skip
}


def write_inputs(folder: Path) -> None:
    (folder / "typo_train.yaml").write_text(
        "model:\n  path: m\ndata:\n  msm: [msm.jsonl]\n  aft: [aft.jsonl]\nrecipee:\n  lr: 1.0e-3\n"
    )
    demo = (ROOT / "src" / "valuesfirst" / "configs" / "demo.yaml").read_text()
    (folder / "typo_exp.yaml").write_text(demo.replace("\nname: ", "\nnmae: ", 1))
    row = {"id": "i", "unit": "u", "cell": "c", "condition": "base", "seed": 0, "excluded": {},
           "metrics": {"harmful": 1.0}}  # fmt: skip
    (folder / "scores.jsonl").write_text(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.src.resolve()), "COLUMNS": "200"}
    with tempfile.TemporaryDirectory() as tmp:
        write_inputs(Path(tmp))
        print(f"| command | best of {args.repeat} (s) | exit | stdout lines | torch imported |")
        print("|---|---|---|---|---|")
        for label, cmd in COMMANDS.items():
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, "-c", SHIM, *cmd], cwd=tmp, env=env, capture_output=True, text=True
                )
                times.append(time.perf_counter() - start)
            torch = "yes" if "TORCH=True" in proc.stderr else "no"
            lines = len(proc.stdout.splitlines())
            print(f"| `{label}` | {min(times):.2f} | {proc.returncode} | {lines} | {torch} |")


if __name__ == "__main__":
    main()
