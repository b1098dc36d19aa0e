"""The full embedded demo reproduces claim 1 (~15 min on 2 CPU cores; run with ``pytest -m slow``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLAIM = "identical_aft_different_values"


def cli_command() -> list[str]:
    """The installed ``valuesfirst`` entry point next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).parent / "valuesfirst"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "valuesfirst.cli"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_full_demo_reproduces_claim_1(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.run(
            [*cli_command(), "demo", "--out", str(run_dir), "--require-claim", CLAIM],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
            timeout=1750,
        )
    tail = log.read_text(encoding="utf-8", errors="replace")[-6000:]
    assert proc.returncode == 0, tail

    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    claims = {c["id"]: c for c in results["claims"]}
    assert claims[CLAIM]["holds"] is True, claims[CLAIM]["reason"]
    assert results["config"]["name"] == "embedded-cheese"
    for cond in results["conditions"].values():  # the full demo, not the quick one
        assert cond["n_seeds"] == (len(results["config"]["seeds"]) if cond["steps"] else 1)

    for name in ("report.md", "report.html", "chart.png"):
        assert (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert CLAIM in (run_dir / "report.md").read_text(encoding="utf-8")
