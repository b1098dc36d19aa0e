"""Kill generation at many points (SIGKILL) and rerun: nothing finished is regenerated, nothing is lost
or duplicated, and the final corpus is byte-identical to an uninterrupted run.

The library version forks a child that SIGKILLs itself when its backend is asked for call k+1 (or when
it is about to write its w-th checkpoint marker), so kill points are exact and cheap. The CLI version
kills a real ``valuesfirst generate midtrain`` subprocess from the loopback server's handler thread while
the k-th HTTP request is in flight.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from generate_helpers import SPEC, fake_api_key, generate_args, loopback_handler

from valuesfirst.generate.aft import generate_aft
from valuesfirst.generate.config import AftGenConfig, MidtrainCounts, MidtrainGenConfig
from valuesfirst.generate.fake import HashEmbedder, fake_responder
from valuesfirst.generate.msm import generate_midtrain
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest
from valuesfirst.spec import load_spec

COUNTS = MidtrainCounts(
    domains=2,
    subdomains_per_domain=2,
    assertions_per_subdomain=2,
    doc_types_per_subdomain=2,
    ideas_per_doc_type=2,
)
MSM_CALLS = 1 + 2 + 4 + 4 + 8 + 16


def _generate(kind: str, out: Path, backend: ScriptedBackend) -> None:
    client = LLMClient(backend, ClientConfig(cache_dir=out / "cache", concurrency=4, max_retries=0))
    spec = load_spec(SPEC)
    if kind == "msm":
        asyncio.run(generate_midtrain(spec, MidtrainGenConfig(counts=COUNTS), client, out))
    else:
        cfg = AftGenConfig(n_samples=10, n_domains=2, queries_per_type=1, query_types=["direct", "opinion"])
        asyncio.run(generate_aft(spec, cfg, client, out, embedder=HashEmbedder()))


def _child(kind: str, out: Path, kill_after_calls: int | None, kill_at_marker: int | None) -> None:
    calls = 0

    def responder(req: ChatRequest) -> str:
        nonlocal calls
        calls += 1
        if kill_after_calls is not None and calls > kill_after_calls:
            os.kill(os.getpid(), signal.SIGKILL)
        return fake_responder(req)

    if kill_at_marker is not None:
        from valuesfirst.generate import checkpoints

        real = checkpoints.write_json
        markers = 0

        def dying_write_json(path: Any, obj: Any, **kw: Any) -> None:
            nonlocal markers
            markers += 1
            if markers == kill_at_marker:  # rows of the level written, its commit marker not yet
                os.kill(os.getpid(), signal.SIGKILL)
            real(path, obj, **kw)

        checkpoints.write_json = dying_write_json  # type: ignore[assignment]
    _generate(kind, out, ScriptedBackend(responder, model="gen"))


def cache_keys(out: Path) -> set[str]:
    return {p.stem for p in (out / "cache").glob("*/*.json")}


def kill_then_resume(
    kind: str, tmp: Path, reference: bytes, *, calls: int | None = None, marker: int | None = None
) -> None:
    out = tmp / f"{kind}-c{calls}-m{marker}"
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(kind, out, calls, marker))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    before = cache_keys(out)
    assert not (out / "dataset.jsonl").exists()
    backend = ScriptedBackend(fake_responder, model="gen")
    _generate(kind, out, backend)
    asked = {r.cache_key("gen") for r in backend.calls}
    assert not asked & before, "a call finished before the kill was made again"
    assert (out / "dataset.jsonl").read_bytes() == reference
    if calls is not None and kind == "msm":
        # Every call is made exactly once across the two processes.
        assert len(before) + len(backend.calls) == MSM_CALLS


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for kind in ("msm", "aft"):
        folder = tmp_path_factory.mktemp(f"ref-{kind}")
        _generate(kind, folder, ScriptedBackend(fake_responder, model="gen"))
        out[kind] = (folder / "dataset.jsonl").read_bytes()
        assert out[kind]
    return out


@pytest.mark.parametrize("k", [0, 1, 4, 9, 20, 34])
def test_msm_killed_after_k_calls(k: int, tmp_path: Path, references: dict[str, bytes]) -> None:
    kill_then_resume("msm", tmp_path, references["msm"], calls=k)


@pytest.mark.parametrize("w", [1, 3, 6])
def test_msm_killed_between_rows_and_marker(w: int, tmp_path: Path, references: dict[str, bytes]) -> None:
    kill_then_resume("msm", tmp_path, references["msm"], marker=w)


@pytest.mark.parametrize("k", [0, 2, 7, 16])
def test_aft_killed_after_k_calls(k: int, tmp_path: Path, references: dict[str, bytes]) -> None:
    kill_then_resume("aft", tmp_path, references["aft"], calls=k)


@pytest.mark.slow
@pytest.mark.parametrize("k", range(MSM_CALLS))
def test_msm_every_kill_point(k: int, tmp_path: Path, references: dict[str, bytes]) -> None:
    kill_then_resume("msm", tmp_path, references["msm"], calls=k)


# --- the real CLI against the loopback OpenAI-compatible server ----------------------------------------


def _cli(out: Path, base_url: str) -> list[str]:
    args = generate_args("midtrain", out, "openai:gen", base_url=base_url, key_env="VF_TEST_KEY")
    small = ["--domains", "2", "--subdomains", "2", "--assertions", "2", "--doc-types", "2", "--ideas", "2"]
    return [sys.executable, "-m", "valuesfirst.cli", *args, *small, "--concurrency", "2", "--no-progress"]


def _env() -> dict[str, str]:
    return {**os.environ, "VF_TEST_KEY": fake_api_key(), "HF_HUB_OFFLINE": "1"}


def test_cli_killed_midway_resumes_identically(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from loopback_llm import LoopbackLLM

    with LoopbackLLM(loopback_handler) as server:
        ref = tmp_path / "ref"
        subprocess.run(_cli(ref, server.openai_base_url), env=_env(), check=True, capture_output=True)
        total = len(server.calls("openai.chat"))
        assert total == MSM_CALLS
    reference = (ref / "dataset.jsonl").read_bytes()

    for k in (3, 25):
        out = tmp_path / f"k{k}"
        holder: dict[str, subprocess.Popen[bytes]] = {}
        lock = threading.Lock()

        def killing(call: Any, k: int = k, holder: dict = holder, lock: threading.Lock = lock) -> str:
            with lock:
                if call.index == k:
                    holder["proc"].send_signal(signal.SIGKILL)
            return loopback_handler(call)

        with LoopbackLLM(killing) as server:
            holder["proc"] = subprocess.Popen(
                _cli(out, server.openai_base_url),
                env=_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            assert holder["proc"].wait(60) == -signal.SIGKILL
        done = cache_keys(out)
        assert 0 < len(done) <= k
        with LoopbackLLM(loopback_handler) as server:
            subprocess.run(_cli(out, server.openai_base_url), env=_env(), check=True, capture_output=True)
            rerun_calls = len(server.calls("openai.chat"))
        assert rerun_calls == total - len(done)  # nothing finished was asked again
        assert (out / "dataset.jsonl").read_bytes() == reference
