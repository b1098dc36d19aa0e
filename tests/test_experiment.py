"""End to end: the quick demo through the CLI, its results and report, stage reuse and resume after kill.

One quick demo (``valuesfirst demo --quick``) runs once per module, in-process, and is shared: the
results/report/manifest tests read it, the reuse test reruns it in the same folder, and the resume test
compares a killed-and-resumed run in a subprocess with it. Training is deterministic on CPU for a fixed
seed and thread count, so the resumed run must reproduce the shared run's numbers exactly.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from valuesfirst.artifacts import verify_stage
from valuesfirst.cli import app
from valuesfirst.commands.experiment import demo_config_path
from valuesfirst.experiment.config import ExperimentConfig, load_experiment

ENV = {"COLUMNS": "200"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPORT_FILES = ("results.json", "report.md", "report.html", "chart.png")
TRAIN_KINDS = ("msm", "aft")
RESULT_KEYS = {"rate", "sem", "ci", "n_seeds", "n_pairs", "per_seed"}
CLAIM_KEYS = {"id", "holds", "reason", "numbers"}
FINGERPRINT = re.compile(r"^(stage:[0-9a-f]{16}|file:[0-9a-f]{64}|dir:[0-9a-f]{64})$")


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(app, args, env=ENV)


def explain(result: Result) -> str:
    """Output and traceback of a CliRunner result, for assertion messages."""
    tb = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
    return f"{result.output}\n{tb}"


def cli_command() -> list[str]:
    """The installed ``valuesfirst`` entry point next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).parent / "valuesfirst"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "valuesfirst.cli"]


def stage_dirs(run_dir: Path) -> list[Path]:
    """Published stage folders (temp folders start with a dot)."""
    return sorted(p for p in (run_dir / "stages").iterdir() if p.is_dir() and not p.name.startswith("."))


def temp_dirs(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "stages").glob(".tmp-*"))


def manifests(run_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Folder name -> (manifest bytes, manifest mtime in ns) of every published stage."""
    out = {}
    for folder in stage_dirs(run_dir):
        m = folder / "manifest.json"
        out[folder.name] = (m.read_bytes(), m.stat().st_mtime_ns)
    return out


def complete_stages(run_dir: Path) -> set[str]:
    """Names of stage folders whose manifest says complete (tolerates a folder being written right now)."""
    done: set[str] = set()
    if not (run_dir / "stages").is_dir():
        return done
    for folder in stage_dirs(run_dir):
        try:
            if json.loads((folder / "manifest.json").read_text())["status"] == "complete":
                done.add(folder.name)
        except (OSError, ValueError, KeyError):
            pass
    return done


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Run:
    """What the shared quick run produced, captured right after it finished."""

    run_dir: Path
    results: dict[str, Any]
    manifests: dict[str, tuple[bytes, int]]
    report_md: str


@pytest.fixture(scope="module")
def quick_cfg() -> ExperimentConfig:
    return load_experiment(demo_config_path(), quick=True).config


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    run_dir = tmp_path_factory.mktemp("quick") / "run"
    result = invoke(["demo", "--quick", "--out", str(run_dir)])
    assert result.exit_code == 0, explain(result)
    return Run(
        run_dir=run_dir,
        results=json.loads((run_dir / "results.json").read_text(encoding="utf-8")),
        manifests=manifests(run_dir),
        report_md=(run_dir / "report.md").read_text(encoding="utf-8"),
    )


# --- results.json ---------------------------------------------------------------------------------------


def test_quick_config_is_small(quick_cfg: ExperimentConfig) -> None:
    # Guards the cost of this file: --quick must actually shrink the demo.
    full = load_experiment(demo_config_path()).config
    assert quick_cfg.stages["msm"].steps < full.stages["msm"].steps
    assert quick_cfg.pretrain.max_steps < full.pretrain.max_steps
    assert quick_cfg.world.corpus_docs < full.world.corpus_docs
    assert len(quick_cfg.seeds) >= 2  # SEMs need two seeds


def test_results_have_every_condition(quick_run: Run, quick_cfg: ExperimentConfig) -> None:
    res = quick_run.results
    names = [c.name for c in quick_cfg.conditions]
    assert res["condition_order"] == names
    assert set(res["conditions"]) == set(names)
    n_pairs = {c["n_pairs"] for c in res["conditions"].values()}
    assert len(n_pairs) == 1 and n_pairs.pop() > 0  # every condition is scored on the same pairs
    for cond in quick_cfg.conditions:
        c = res["conditions"][cond.name]
        assert set(c) >= RESULT_KEYS, cond.name
        assert c["label"] == cond.label and c["steps"] == cond.steps
        seeds = quick_cfg.seeds if cond.steps else [0]  # the base model has no training seed
        assert c["n_seeds"] == len(seeds)
        assert set(c["per_seed"]) == {str(s) for s in seeds}
        rates = list(c["per_seed"].values())
        assert all(0.0 <= r <= 1.0 for r in rates)
        assert c["rate"] == pytest.approx(statistics.fmean(rates))
        if len(rates) > 1:
            assert c["sem"] == pytest.approx(statistics.stdev(rates) / len(rates) ** 0.5)
        else:
            assert c["sem"] is None
        lo, hi = c["ci"]
        assert 0.0 <= lo <= c["rate"] <= hi <= 1.0 and lo < hi


def test_results_claims(quick_run: Run, quick_cfg: ExperimentConfig) -> None:
    res = quick_run.results
    claims = res["claims"]
    assert [c["id"] for c in claims] == [c.id for c in quick_cfg.claims]
    for claim in claims:
        assert set(claim) >= CLAIM_KEYS, claim
        assert claim["holds"] in (True, False, None)
        assert isinstance(claim["reason"], str) and claim["reason"].strip()
        assert isinstance(claim["numbers"], dict) and claim["numbers"]
    # The numbers behind a claim are the conditions' own numbers.
    first = claims[0]
    cfg_claim = quick_cfg.claims[0]
    assert first["kind"] == "gap"
    nums = first["numbers"]
    assert (nums["a"], nums["b"]) == (cfg_claim.a, cfg_claim.b)  # type: ignore[union-attr]
    assert nums["rate_a"] == pytest.approx(res["conditions"][nums["a"]]["rate"])
    assert nums["rate_b"] == pytest.approx(res["conditions"][nums["b"]]["rate"])
    assert nums["diff"] == pytest.approx(nums["sign"] * (nums["rate_a"] - nums["rate_b"]))


def test_results_provenance_and_config(quick_run: Run, quick_cfg: ExperimentConfig) -> None:
    res = quick_run.results
    assert res["config"] == quick_cfg.model_dump(mode="json")  # the resolved --quick config
    prov = res["provenance"]
    for pkg in ("valuesfirst", "torch", "numpy", "pydantic"):
        assert prov["packages"][pkg], pkg
    assert Path(prov["config_file"]) == demo_config_path().resolve()
    assert set(prov["spec_files"]) == set(quick_cfg.specs)
    assert all(Path(p).is_file() for p in prov["spec_files"].values())


# --- report files ---------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_files(quick_run: Run) -> None:
    run_dir, res = quick_run.run_dir, quick_run.results
    for name in REPORT_FILES:
        assert (run_dir / name).stat().st_size > 0, name

    width, height = png_size((run_dir / "chart.png").read_bytes())
    assert width > 100 and height > 100

    md = quick_run.report_md
    for claim in res["claims"]:
        assert claim["title"] in md
        assert f"`{claim['id']}`" in md
    for name in res["condition_order"]:
        c = res["conditions"][name]
        row = next((line for line in md.splitlines() if line.startswith(f"| {c['label']} ")), None)
        assert row is not None, f"no table row for {name}"
        assert f" {c['rate']:.3f} " in row
    assert "![chart](chart.png)" in md

    page = (run_dir / "report.html").read_text(encoding="utf-8")
    chart_b64 = base64.b64encode((run_dir / "chart.png").read_bytes()).decode("ascii")
    assert f"data:image/png;base64,{chart_b64}" in page  # standalone: the chart is embedded
    for claim in res["claims"]:
        assert html.escape(claim["title"]) in page


def test_report_command_rerenders_from_results(quick_run: Run, tmp_path: Path) -> None:
    # Only results.json is copied: everything else must be re-rendered from it.
    original = (quick_run.run_dir / "results.json").read_bytes()
    (tmp_path / "results.json").write_bytes(original)

    result = invoke(["report", str(tmp_path)])

    assert result.exit_code == 0, explain(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(REPORT_FILES)
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == quick_run.report_md
    assert (tmp_path / "results.json").read_bytes() == original
    png_size((tmp_path / "chart.png").read_bytes())
    chart_b64 = base64.b64encode((tmp_path / "chart.png").read_bytes()).decode("ascii")
    assert chart_b64 in (tmp_path / "report.html").read_text(encoding="utf-8")
    for name in ("report.md", "report.html", "chart.png"):
        assert str(tmp_path / name) in result.stdout.replace("\n", "")


# --- stages and manifests ---------------------------------------------------------------------------------


def expected_stage_count(cfg: ExperimentConfig) -> int:
    """Distinct stages: shared data stages, a model per distinct chain prefix and seed, an eval per model."""
    chains = {
        (tuple(c.steps[: i + 1]), s) for c in cfg.conditions for s in cfg.seeds for i in range(len(c.steps))
    }
    evals = {(tuple(c.steps), s) for c in cfg.conditions if c.steps for s in cfg.seeds}
    # world, pretrain, msm_data per spec, aft_data, replay, eval_items
    data = 1 + 1 + len(cfg.specs) + 1 + 1 + 1
    return data + len(chains) + 1 + len(evals)  # + eval of the base model


def test_stage_folders_match_results_and_are_deduplicated(
    quick_run: Run, quick_cfg: ExperimentConfig
) -> None:
    run_dir, res = quick_run.run_dir, quick_run.results
    assert temp_dirs(run_dir) == []
    folders = {p.name for p in stage_dirs(run_dir)}
    logged = [f"{s['kind']}-{s['key']}" for s in res["stages"]]
    assert folders == set(logged)
    assert len(folders) == expected_stage_count(quick_cfg)
    # A stage shared by several conditions (e.g. msm:A seed=0 under msm_a and msm_a_aft) is one job:
    # a fresh run builds and logs every folder exactly once.
    assert len(logged) == len(folders)
    assert not any(stage["reused"] for stage in res["stages"])
    chains = [s["label"] for s in res["stages"] if s["kind"] in ("msm", "aft")]
    assert sum(1 for c in quick_cfg.conditions if c.steps and c.steps[0] == "msm:A") == 2  # shared prefix
    assert len([c for c in chains if c.startswith("msm:A seed=")]) == len(quick_cfg.seeds)
    # Each logged stage names its folder, relative to the run, for the report's stage index.
    assert [s["folder"] for s in res["stages"]] == [f"stages/{name}" for name in logged]
    # The report's stage index: the base model and each chain's stages by condition and seed; a stage
    # shared by two conditions (msm:A seed=0) appears under both with the same folder.
    folder = {s["label"]: s["folder"] for s in res["stages"]}
    md = (run_dir / "report.md").read_text()
    assert f"| base | — | base model | [{folder['pretrain']}]({folder['pretrain']}) |" in md
    shared = folder["msm:A seed=0"]
    assert md.count(f"| 0 | msm:A | [{shared}]({shared}) |") == 2  # MSM(A) only and MSM(A)→AFT
    assert f"| MSM(A)→AFT | 1 | aft | [{folder['msm:A→aft seed=1']}](" in md
    # results.json carries the same mapping, written by the runner: every condition, seed and step once,
    # each pointing at a published stage, and the eval of each (condition, seed) at its eval stage.
    index = res["stage_index"]
    assert {r["folder"] for r in index} <= {f"stages/{name}" for name in logged}
    for cond in quick_cfg.conditions:
        rows = [r for r in index if r["condition"] == cond.name]
        seeds = quick_cfg.seeds if cond.steps else [None]
        steps = cond.steps or ["base model"]
        assert len(rows) == len(seeds) * (len(steps) + len(quick_cfg.eval.names())), cond.name
        assert all(r["folder"].startswith("stages/eval-") for r in rows if r["step"].startswith("eval "))
    assert {r["folder"] for r in index if r["condition"] == "msm_a" and r["step"] == "msm:A"} == {
        r["folder"] for r in index if r["condition"] == "msm_a_aft" and r["step"] == "msm:A"}


def test_every_stage_manifest_is_complete_with_provenance(
    quick_run: Run, quick_cfg: ExperimentConfig
) -> None:
    run_dir = quick_run.run_dir
    folders = {p.name for p in stage_dirs(run_dir)}
    spec_hashes = {f"file:{sha256(p)}" for p in load_experiment(demo_config_path()).spec_paths.values()}
    kinds = set()
    for folder in stage_dirs(run_dir):
        m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        kinds.add(m["kind"])
        assert m["status"] == "complete"
        assert folder.name == f"{m['kind']}-{m['key']}"
        for field in ("config", "seed", "inputs", "provenance", "files", "started", "finished", "duration_s"):
            assert field in m, f"{folder.name}: no {field}"
        assert isinstance(m["config"], dict) and m["config"], folder.name
        prov = m["provenance"]
        for pkg in ("valuesfirst", "torch", "transformers", "tokenizers", "numpy", "pydantic"):
            assert prov["packages"][pkg], f"{folder.name}: no version of {pkg}"
        assert prov["python"] and prov["torch_threads"] >= 1
        if m["kind"] != "world":
            assert m["inputs"], f"{folder.name} has no inputs"
        for name, inp in m["inputs"].items():
            fp = inp["fingerprint"]
            assert FINGERPRINT.match(fp), f"{folder.name}: inputs.{name} = {fp!r}"
            if fp.startswith("stage:"):  # keys chain: the input is a finished stage of this run
                assert any(f.endswith("-" + fp[len("stage:") :]) for f in folders), fp
            if name == "spec":
                assert fp in spec_hashes
        if m["kind"] in TRAIN_KINDS:
            assert m["seed"] in quick_cfg.seeds
            recipe = quick_cfg.stages[m["kind"]].model_dump(mode="json")
            assert m["config"]["recipe"] == recipe, folder.name  # the --quick settings
            assert "replay" in m["inputs"], folder.name
        if m["kind"] == "pretrain":
            assert m["seed"] == quick_cfg.pretrain.seed
            assert m["config"]["max_steps"] == quick_cfg.pretrain.max_steps
        assert m["files"], folder.name
        assert verify_stage(folder) == [], folder.name  # the files are the ones the manifest lists
    data_kinds = {"world", "pretrain", "msm_data", "aft_data", "replay", "eval_items"}
    assert kinds == data_kinds | {"msm", "aft", "eval"}


# --- reuse ----------------------------------------------------------------------------------------------


def test_second_run_reuses_every_stage(quick_run: Run) -> None:
    run_dir, first = quick_run.run_dir, quick_run.results
    claim = first["claims"][0]
    result = invoke(["demo", "--quick", "--out", str(run_dir), "--require-claim", claim["id"]])

    # --require-claim decides the exit code from the claim's verdict (the quick demo is too small to
    # promise any particular verdict).
    assert result.exit_code == (0 if claim["holds"] is True else 1), explain(result)
    if claim["holds"] is not True:
        assert f"required claim {claim['id']!r} does not hold" in result.stderr
    second = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))

    # stages finish in a different order when two run in parallel; the set is what must be equal
    assert sorted(s["key"] for s in second["stages"]) == sorted(s["key"] for s in first["stages"])
    assert all(s["reused"] for s in second["stages"]), [s for s in second["stages"] if not s["reused"]]
    assert manifests(run_dir) == quick_run.manifests  # same folders, manifests untouched (bytes and mtime)
    assert temp_dirs(run_dir) == []
    assert second["conditions"] == first["conditions"]
    assert second["claims"] == first["claims"]


def test_require_unknown_claim_exits_2(quick_run: Run) -> None:
    result = invoke(["demo", "--quick", "--out", str(quick_run.run_dir), "--require-claim", "no_such_claim"])
    assert result.exit_code == 2, explain(result)
    assert "no_such_claim" in result.stderr
    assert manifests(quick_run.run_dir) == quick_run.manifests


# --- resume after kill -9 -------------------------------------------------------------------------------


def test_resume_after_kill(quick_run: Run, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    log_path = tmp_path / "killed.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*cli_command(), "demo", "--quick", "--out", str(run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **ENV},
        )
        try:
            # Kill once a few stages are published and a training stage is being built, so the kill
            # leaves a half-written temp folder behind.
            deadline = time.monotonic() + 240
            while True:
                assert proc.poll() is None, "finished before it could be killed:\n" + log_path.read_text()
                assert time.monotonic() < deadline, "no training stage started:\n" + log_path.read_text()
                if len(complete_stages(run_dir)) >= 3 and any(
                    p.name.startswith(tuple(f".tmp-{k}-" for k in TRAIN_KINDS)) for p in temp_dirs(run_dir)
                ):
                    break
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Training ran in the main process and in workers: DeepSpeed's "no GPU detected" warning is not shown.
    assert "unable to detect" not in log_path.read_text(), log_path.read_text()

    before = manifests(run_dir)
    assert len(before) >= 3
    assert set(before) == complete_stages(run_dir)  # a kill never leaves a published but incomplete stage
    assert set(before) < set(quick_run.manifests)  # same config, same keys as the shared run
    assert temp_dirs(run_dir), "the kill should have interrupted a build"
    assert not (run_dir / "results.json").exists()

    result = invoke(["demo", "--quick", "--out", str(run_dir)])
    assert result.exit_code == 0, explain(result)

    after = manifests(run_dir)
    for name, (data, mtime) in before.items():
        assert after[name] == (data, mtime), f"{name} was rebuilt instead of reused"
    assert temp_dirs(run_dir) == []
    assert set(after) == set(quick_run.manifests)

    res = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    reused = {f"{s['kind']}-{s['key']}" for s in res["stages"] if s["reused"]}
    built = {f"{s['kind']}-{s['key']}" for s in res["stages"] if not s["reused"]}
    assert set(before) <= reused
    assert built == set(after) - set(before)
    # The resumed run equals the uninterrupted one: per-seed numbers, and every stage's files bit for bit.
    for name, c in quick_run.results["conditions"].items():
        assert res["conditions"][name]["per_seed"] == c["per_seed"], name
    for name, (data, _) in quick_run.manifests.items():
        assert json.loads(after[name][0])["files"] == json.loads(data)["files"], name


def _session_processes(sid: int) -> list[str]:
    """Live processes (not zombies) of session ``sid``, as 'pid state cmdline'."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # stat fields 3 and 6: state, session id
            found.append(f"{stat.parent.name} {fields[0]} {cmd}")
    return found


def _default_sigint() -> None:
    """In the CLI's child process: SIGINT as a terminal's foreground job has it. A shell starts background
    jobs (`cmd &`, as a CI script may run the suite) with SIGINT ignored, and the ignore is inherited: the
    CLI would then never see the Ctrl-C this test sends (it finished with exit 0 that way)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_workers_and_says_how_to_resume(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while stages train in worker
    processes: the run stops promptly with exit 130, no worker is left behind, nothing half-built is
    published, and the message says what finished and how to resume."""
    run_dir = tmp_path / "run"
    log_path = tmp_path / "interrupted.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*cli_command(), "demo", "--quick", "--out", str(run_dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **ENV}, start_new_session=True, preexec_fn=_default_sigint,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 240
            training = tuple(f".tmp-{k}-" for k in TRAIN_KINDS)
            while not any(p.name.startswith(training) for p in temp_dirs(run_dir)):
                assert proc.poll() is None, "finished before Ctrl-C:\n" + log_path.read_text()
                assert time.monotonic() < deadline, "no training stage started:\n" + log_path.read_text()
                time.sleep(0.02)
            seen = [p.name for p in temp_dirs(run_dir)]
            t0, sent_at = time.monotonic(), time.strftime("%H:%M:%S")
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=60)
            seconds = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    text = log_path.read_text()
    assert proc.returncode == 130, f"SIGINT sent at {sent_at} while building {seen}:\n{text}"
    assert "interrupted:" in text and "Run the same command again to resume" in text, text
    print(f"stopped {seconds:.1f} s after Ctrl-C")
    # No process of the run's session outlives it for long (workers, the manager, the resource tracker).
    deadline = time.monotonic() + 20
    while (survivors := _session_processes(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not survivors, f"processes of the interrupted run still alive: {survivors}"
    assert set(manifests(run_dir)) == complete_stages(run_dir)
    assert not (run_dir / "results.json").exists()


def test_cli_command_is_runnable() -> None:
    # The resume test runs the CLI as its own process; make sure that command works at all.
    proc = subprocess.run([*cli_command(), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "demo" in proc.stdout
    assert shutil.which(cli_command()[0]) is not None
