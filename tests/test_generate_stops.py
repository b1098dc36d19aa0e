"""Stopped and short runs resume honestly: the threshold counts failed calls against all calls, a stopped
run rerun against a healthy server asks again exactly the calls that failed and ends byte-identical to an
uninterrupted run, and a damaged checkpoint is recomputed from the cache instead of trusted or fatal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from generate_helpers import SPEC, scripted_client

from valuesfirst.generate.config import MidtrainCounts, MidtrainGenConfig
from valuesfirst.generate.fake import fake_responder
from valuesfirst.generate.levels import StageFailed
from valuesfirst.generate.msm import MidtrainResult, generate_midtrain
from valuesfirst.jsonl import read_json
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest, ChatResponse, TransientBackendError
from valuesfirst.spec import load_spec

COUNTS = MidtrainCounts(
    domains=1,
    subdomains_per_domain=2,
    assertions_per_subdomain=2,
    doc_types_per_subdomain=3,
    ideas_per_doc_type=3,
)
Responder = Callable[[ChatRequest], "str | ChatResponse | BaseException"]


def run(
    out: Path, responder: Responder = fake_responder, **cfg: object
) -> tuple[MidtrainResult, ScriptedBackend]:
    backend, client = scripted_client(out, responder)  # type: ignore[arg-type]
    config = MidtrainGenConfig(counts=cfg.pop("counts", COUNTS), **cfg)  # type: ignore[arg-type]
    return asyncio.run(generate_midtrain(load_spec(SPEC), config, client, out)), backend


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    result, _ = run(tmp_path_factory.mktemp("ref"))
    return result.dataset.read_bytes()


def _faulty(stage: str, fault: str) -> Responder:
    """Answers of ``stage`` whose prompt hashes into half the space get ``fault``; the rest are healthy."""

    def responder(req: ChatRequest) -> str | ChatResponse | BaseException:
        text = fake_responder(req)
        if req.stage != stage or int(req.cache_key("x")[:2], 16) % 2:
            return text
        if fault == "empty":
            return ""
        if fault == "tagless":
            return "Sure! Here is what you asked for, without any tags."
        if fault == "cut_off":
            return ChatResponse(text[: len(text) // 2], "length", "gen-model", output_tokens=5000)
        if fault == "refused":
            return ChatResponse("I can't help with that.", "refusal", "gen-model")
        if fault == "server_error":
            return TransientBackendError("HTTP 500", kind="http_500")
        raise AssertionError(fault)

    return responder


@pytest.mark.parametrize("stage", ["msm.ideas", "msm.documents"])
@pytest.mark.parametrize("fault", ["empty", "tagless", "cut_off", "refused", "server_error"])
def test_a_stopped_run_resumes_to_the_uninterrupted_result(
    stage: str, fault: str, tmp_path: Path, reference: bytes
) -> None:
    bad = _faulty(stage, fault)
    with pytest.raises(StageFailed) as stopped:
        run(tmp_path, bad)
    failed = stopped.value.stats
    assert failed.failed_calls > 0 and not (tmp_path / "dataset.jsonl").exists()
    cached = {p.stem for p in (tmp_path / "cache").glob("*/*.json")}
    # Nothing unusable was cached: every cached answer is one the healthy server gives too.
    for path in (tmp_path / "cache").glob("*/*.json"):
        assert json.loads(path.read_text())["finish_reason"] == "stop"
    result, backend = run(tmp_path)
    asked = {r.cache_key("gen-model") for r in backend.calls}
    assert not asked & cached, "a usable answer was asked for again"
    assert len(backend.calls) == len(asked)  # and nothing twice
    assert result.dataset.read_bytes() == reference
    assert result.manifest["status"] == "complete" and not (tmp_path / "stopped.json").exists()


def test_failed_calls_count_against_all_calls_not_kept_rows(tmp_path: Path) -> None:
    """25 items per call, 8 of 10 calls fail: the old rate read 8 / (8 + 50) = 13.8% and passed."""
    counts = COUNTS.model_copy(update={"doc_types_per_subdomain": 5, "ideas_per_doc_type": 25})
    seen: list[str] = []

    def responder(req: ChatRequest) -> str | BaseException:
        if req.stage == "msm.ideas":
            seen.append(req.messages[0].content)
            if len(seen) > 2:
                return TransientBackendError("upstream overloaded", kind="http_529")
        return fake_responder(req)

    with pytest.raises(StageFailed) as stopped:
        run(tmp_path, responder, counts=counts)
    stats = stopped.value.stats
    assert stats.level == "ideas" and stats.calls == 10 and stats.failed_calls >= 3
    assert stats.call_failure_rate > 0.2 and "call_error.http_529" in str(stopped.value)
    assert "upstream overloaded" in str(stopped.value)  # the example message, not just a counter


def test_a_short_list_is_a_failed_row_and_the_run_is_short(tmp_path: Path) -> None:
    def responder(req: ChatRequest) -> str:
        text = fake_responder(req)
        if req.stage == "msm.ideas":  # 2 ideas where 3 were asked for
            items = json.loads(text.split("<output>")[1].split("</output>")[0])
            return f"<output>{json.dumps(items[:2])}</output>"
        return text

    result, _ = run(tmp_path, responder, failure_threshold=0.5)
    ideas = result.manifest["levels"]["ideas"]
    assert ideas["failed"] == {"short_list": 6} and ideas["kept"] == 12 and ideas["target"] == 18
    assert ideas["examples"]["short_list"] == "asked for 3 items, the answer had 2"
    assert result.manifest["status"] == "short" and set(result.short) == {"ideas", "documents"}
    assert result.short["documents"] == {**result.short["documents"], "kept": 12, "target": 18}
    # The tolerance accepts a shortfall it covers.
    again, backend = run(tmp_path / "tolerant", responder, failure_threshold=0.5, target_tolerance=0.34)
    assert again.short == {} and again.manifest["status"] == "complete"


def _edit(path: Path, how: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    if how == "row_removed":
        path.write_text("".join(lines[1:]))
    elif how == "cut":
        text = "".join(lines)
        path.write_text(text[: len(text) - len(lines[-1]) // 2])
    elif how == "edited":
        path.write_text("".join(lines).replace("Conduct", "Kondukt", 1))
    elif how == "marker_damaged":
        path.with_suffix(".json").write_text('{"key": ')
    elif how == "rows_missing":
        path.unlink()


@pytest.mark.parametrize("how", ["row_removed", "cut", "edited", "marker_damaged", "rows_missing"])
def test_a_damaged_checkpoint_is_recomputed_from_the_cache(
    how: str, tmp_path: Path, reference: bytes
) -> None:
    first, _ = run(tmp_path)
    assert first.dataset.read_bytes() == reference
    (tmp_path / "dataset.jsonl").unlink()
    (tmp_path / "levels" / "documents.json").unlink()  # so the run reaches the damaged level's users
    _edit(tmp_path / "levels" / "domains.jsonl", how)
    again, backend = run(tmp_path)
    assert backend.calls == []  # recomputed, every answer from the cache
    assert again.dataset.read_bytes() == reference
    marker = read_json(tmp_path / "levels" / "domains.json")
    assert marker["rows"] == 1 and marker["stats"]["kept"] == 1


@pytest.mark.parametrize("stage", ["msm.assertions", "msm.doc_types", "msm.documents"])
def test_a_short_run_rerun_against_a_healthy_server_fills_its_gaps(
    stage: str, tmp_path: Path, reference: bytes
) -> None:
    """Failures under the threshold: the run finishes short (checkpoints of levels with failed calls and
    of everything downstream of them written). The rerun must not trust them: it asks the failed calls
    again, recomputes what depended on them, and ends as the uninterrupted run did."""
    calls = [0]

    def one_failure(req: ChatRequest) -> str | ChatResponse:
        text = fake_responder(req)
        if req.stage == stage:
            calls[0] += 1
            if calls[0] == 1:
                return ChatResponse("", "refusal", "gen-model")
        return text

    short, _ = run(tmp_path, one_failure, failure_threshold=0.9)
    assert short.manifest["status"] == "short" and short.dataset.read_bytes() != reference
    cached = {p.stem for p in (tmp_path / "cache").glob("*/*.json")}
    again, backend = run(tmp_path)
    asked = {r.cache_key("gen-model") for r in backend.calls}
    assert asked and not asked & cached  # only what was never answered usably
    assert again.manifest["status"] == "complete" and again.dataset.read_bytes() == reference
    assert run(tmp_path)[1].calls == []  # and now every checkpoint is final
