"""scripts/torch_source.py: setup.sh installs a CPU build of torch, on a stock machine and on this one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "torch_source.py"
TORCH_VERSION = "2.13.0"  # scripts/setup.sh's pin


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("torch_source", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ts = load()


def test_setup_sh_pins_the_version_tested_here() -> None:
    setup = (SCRIPT.parent / "setup.sh").read_text()
    assert f"VALUESFIRST_TORCH:-{TORCH_VERSION}" in setup and "scripts/torch_source.py" in setup


def test_cuda_builds_are_recognised() -> None:
    linux = 'platform_system == "Linux"'
    pypi_linux = {"version": "2.13.0", "requires_dist": ["filelock", f"nvidia-cudnn-cu13==9.2; {linux}",
                                                         f"triton==3.7; {linux}", "sympy>=1.13"]}  # fmt: skip
    got = ts.cuda_packages(pypi_linux)
    if sys.platform.startswith("linux"):
        assert got == ["nvidia-cudnn-cu13==9.2", "triton==3.7"]
    assert ts.cuda_packages({"version": "2.5.1+cu121", "requires_dist": []}) == ["torch 2.5.1+cu121"]
    assert ts.cuda_packages({"version": "2.13.0+cpu", "requires_dist": ["filelock", "sympy"]}) == []
    # A CUDA requirement for another platform only (PyPI's wheels for macOS have none at all).
    elsewhere = {"version": "2.13.0", "requires_dist": ['nvidia-nccl; sys_platform == "nope"']}
    assert ts.cuda_packages(elsewhere) == []
    assert ts.cuda_packages({}) == []
    assert ts.cuda_packages({"version": "2.13.0", "requires_dist": ["nvidia-x; not a marker ((("]}) == [
        "nvidia-x"
    ]  # an unreadable marker counts as applying: the safe side


def test_choice_follows_the_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = {"metadata": {"name": "torch", "version": "2.13.0", "requires_dist": ["nvidia-nccl-cu13"]}}
    cpu = {"metadata": {"name": "torch", "version": "2.13.0+cpu"}, "download_info": {"url": "file:///w.whl"}}
    cpu_index = ["--index-url", ts.CPU_INDEX]
    for entry, expected in ((cuda, cpu_index), (cpu, []), (None, cpu_index)):
        monkeypatch.setattr(ts, "resolve", lambda version, pip_args=(), e=entry: e)
        args, why = ts.choose(TORCH_VERSION, env={})
        assert args == expected and why
    assert ts.choose(TORCH_VERSION, env={"VALUESFIRST_TORCH_INDEX": "default"})[0] == []
    forced = ts.choose(TORCH_VERSION, env={"VALUESFIRST_TORCH_INDEX": "file:///idx"})[0]
    assert forced == ["--index-url", "file:///idx"]


def test_main_prints_arguments_one_per_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ts, "choose", lambda version: (["--index-url", "U"], "because"))
    assert ts.main([TORCH_VERSION]) == 0
    out = capsys.readouterr()
    assert out.out == "--index-url\nU\n" and "because" in out.err
    assert ts.main([]) == 2


def test_the_chosen_source_resolves_to_a_cpu_build() -> None:
    """The dry run setup.sh relies on, for real: with the chosen arguments, pip would pull no CUDA package.

    Here pip's config serves a local CPU wheel (no arguments added, no network); on a stock machine the
    choice is the PyTorch CPU index. Skipped where pip can resolve torch from neither.
    """
    args, why = ts.choose(TORCH_VERSION, env={})
    entry = ts.resolve(TORCH_VERSION, [*args, "--timeout", "20", "--retries", "1"])
    if entry is None:
        pytest.skip(f"pip cannot resolve torch=={TORCH_VERSION} here ({why})")
    assert ts.cuda_packages(entry["metadata"]) == [], (why, entry["metadata"].get("version"))
    assert entry["metadata"]["version"].startswith(TORCH_VERSION)


def test_the_ray_extra_pulls_no_torch_cuda_or_vllm() -> None:
    """setup.sh installs ``.[dev,ray]`` after the CPU torch: the ray extra (pyproject's requirements, a
    dry run from scratch) must not pull torch, a CUDA package or vLLM (``ray[llm]`` would). Skipped where
    pip can reach no index."""
    import json
    import subprocess
    import tempfile

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    pyproject = tomllib.loads((SCRIPT.parents[1] / "pyproject.toml").read_text())
    extra = pyproject["project"]["optional-dependencies"]["ray"]
    assert any(r.startswith("ray[data]") for r in extra) and not any("llm" in r for r in extra)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--timeout", "20", "--retries", "1", "--report", str(report), *extra]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or not report.is_file():
            pytest.skip(f"pip cannot resolve the ray extra here: {done.stderr.strip()[-300:]}")
        names = {e["metadata"]["name"].lower() for e in json.loads(report.read_text())["install"]}
    assert "ray" in names and "aiohttp" in names
    heavy = {n for n in names if n in ("torch", "vllm", "triton", "sglang") or n.startswith("nvidia")}
    assert not heavy, heavy
