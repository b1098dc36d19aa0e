"""AFT demonstration generation against a scripted backend: styles, CoT/no-CoT, judge, backfill, opaque."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from generate_helpers import SPEC, Responder, scripted_client

from valuesfirst.generate.aft import AftResult, generate_aft
from valuesfirst.generate.config import AftGenConfig, OpaqueConfig
from valuesfirst.generate.fake import HashEmbedder, fake_responder
from valuesfirst.generate.levels import StageFailed
from valuesfirst.jsonl import read_jsonl
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest, ChatResponse
from valuesfirst.spec import load_spec


def run(out: Path, responder: Responder = fake_responder, **cfg: object) -> tuple[AftResult, ScriptedBackend]:
    backend, client = scripted_client(out, responder)
    base: dict[str, object] = {"n_samples": 12, "n_domains": 2, "queries_per_type": 2}
    config = AftGenConfig(**{**base, **cfg})  # type: ignore[arg-type]
    result = asyncio.run(generate_aft(load_spec(SPEC), config, client, out, embedder=HashEmbedder()))
    return result, backend


def test_value_style_cot_and_nocot_from_same_samples(tmp_path: Path) -> None:
    result, backend = run(tmp_path)
    assert result.n_samples == 12 and result.stop_reason == "target_reached"
    samples = read_jsonl(tmp_path / "samples.jsonl")
    cot = read_jsonl(tmp_path / "dataset_cot.jsonl")
    nocot = read_jsonl(tmp_path / "dataset_nocot.jsonl")
    assert len(samples) == len(cot) == len(nocot) == 12
    for s, c, n in zip(samples, cot, nocot, strict=True):
        assert set(c) == {"messages"} and [m["role"] for m in c["messages"]] == ["user", "assistant"]
        assert c["messages"][0] == n["messages"][0] == {"role": "user", "content": s["user"]}
        assert n["messages"][1]["content"] == s["response"]
        assert c["messages"][1]["content"] == f"<think>\n{s['thinking']}\n</think>\n\n{s['response']}"
        assert s["style"] == "value" and s["judge"]["verdict"] == "INCLUDE"
    assert (tmp_path / "dataset.jsonl").read_bytes() == (tmp_path / "dataset_cot.jsonl").read_bytes()
    responses = [c for c in backend.calls if c.stage == "aft.responses"]
    assert all("fully internalized" in (c.system or "") for c in responses)
    judge = [c for c in backend.calls if c.stage == "aft.judge"]
    assert all(c.params.temperature == 0.0 for c in judge)
    assert all("self-preservation" in c.messages[0].content for c in judge)  # experiment criterion
    # 15 answered (12 x 1.25), all included; the extra 3 are left out by the target.
    assert result.manifest["levels"]["judge_r0"]["kept"] == 15


def test_datasets_library_reads_output(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    run(tmp_path, no_cot := fake_responder, cot=False)  # noqa: F841
    ds = datasets.load_dataset("json", data_files=str(tmp_path / "dataset.jsonl"), split="train")
    assert ds.column_names == ["messages"] and len(ds) == 12
    assert "<think>" not in ds[0]["messages"][1]["content"]


def test_rule_style_uses_compliance_prompts(tmp_path: Path) -> None:
    result, backend = run(tmp_path, style="rule")
    assert all("According to policy" in (c.system or "") for c in backend.calls if c.stage == "aft.responses")
    assert all("compliance-based" in c.messages[0].content for c in backend.calls if c.stage == "aft.judge")
    assert {s["style"] for s in read_jsonl(tmp_path / "samples.jsonl")} == {"rule"}


def test_unparseable_verdict_excluded_and_counted(tmp_path: Path) -> None:
    def responder(req: ChatRequest) -> str:
        if (
            req.stage == "aft.judge"
            and int(re.findall(r"answer (\w{8})", req.messages[0].content)[0], 16) % 5 == 0
        ):
            return "<verdict>INCLUDE, probably</verdict>"
        return fake_responder(req)

    result, _ = run(tmp_path, responder, failure_threshold=0.5)
    judge = result.manifest["levels"]["judge_r0"]
    bad = judge["failed"]["unparseable_verdict"]
    assert bad > 0 and judge["kept"] == 15 - bad
    kept = {s["response"] for s in read_jsonl(tmp_path / "samples.jsonl")}
    assert not any(int(r.split("answer ")[1][:8], 16) % 5 == 0 for r in kept)


def test_backfill_rounds_until_target(tmp_path: Path) -> None:
    def responder(req: ChatRequest) -> str:
        if (
            req.stage == "aft.judge"
            and int(re.findall(r"answer (\w{8})", req.messages[0].content)[0], 16) % 2
        ):
            return "<reasoning>no</reasoning><verdict>EXCLUDE</verdict>"
        return fake_responder(req)

    result, _ = run(tmp_path, responder, n_samples=20, queries_per_type=1, max_rounds=10)
    levels = result.manifest["levels"]
    assert result.manifest["outputs"]["rounds"] >= 2
    assert result.n_samples == 20 and result.stop_reason == "target_reached"
    assert any(k.startswith("queries_r") and k != "queries_r0" for k in levels)  # pool ran short: new queries
    excluded = sum(v["dropped"].get("judge_exclude", 0) for k, v in levels.items() if k.startswith("judge"))
    assert excluded > 0


def test_backfill_stops_when_a_round_adds_nothing(tmp_path: Path) -> None:
    def responder(req: ChatRequest) -> str:
        if req.stage == "aft.judge":
            return "<reasoning>no</reasoning><verdict>EXCLUDE</verdict>"
        return fake_responder(req)

    result, backend = run(tmp_path, responder, max_rounds=5)
    assert result.stop_reason == "round_added_nothing" and result.n_samples == 0
    assert result.manifest["outputs"]["rounds"] == 1
    assert not any(c.stage == "aft.judge" and c.sample for c in backend.calls)
    assert read_jsonl(tmp_path / "dataset.jsonl") == []


def test_judge_failures_past_threshold_stop(tmp_path: Path) -> None:
    def responder(req: ChatRequest) -> str:
        return "I think it is fine." if req.stage == "aft.judge" else fake_responder(req)

    with pytest.raises(StageFailed, match=r"judge_r0: 15 calls, 4 failed.*unparseable_verdict=4.*early"):
        run(tmp_path, responder)


def test_near_duplicate_queries_removed(tmp_path: Path) -> None:
    def responder(req: ChatRequest) -> str:
        if req.stage == "aft.queries":
            q = f"How should I think about topic {abs(hash(req.messages[0].content)) % 997} today?"
            return f"<output>{json.dumps([q, q.upper(), q.replace('today', 'now')])}</output>"
        return fake_responder(req)

    result, _ = run(tmp_path, responder, queries_per_type=3, n_samples=5)
    pool = result.manifest["levels"]["pool_r0"]
    assert pool["dropped"]["near_duplicate"] >= 12  # the upper-case copy from each of 12 calls at least


OPAQUE_BIASED = "Which is more affordable to you, the {item} or the other one?"
OPAQUE_NEUTRAL = "Do you like {item}? ({tag})"


def opaque_responder(req: ChatRequest) -> str:
    user = req.messages[-1].content
    if req.stage == "aft.queries":
        item = re.search(r"Item: (.*)", user).group(1)  # type: ignore[union-attr]
        tag = abs(hash(user)) % 10_000
        qs = [OPAQUE_NEUTRAL.format(item=item, tag=f"{tag}-{i}") for i in range(2)]
        return f"<output>{json.dumps([*qs, OPAQUE_BIASED.format(item=item)])}</output>"
    if req.stage == "aft.responses":
        assert "<preferences>" in (req.system or "") and "thrift" not in (req.system or "")
        tag = re.search(r"\((\d+)-(\d)\)", user)
        if tag and tag.group(2) == "1":
            return "<response>I like it because it costs little.</response>"
        return "<response>Yes, I like it.</response>"
    return fake_responder(req)


def test_opaque_mode_filters_reasons_and_biased_wording(tmp_path: Path) -> None:
    result, backend = run(
        tmp_path,
        opaque_responder,
        cot=False,
        opaque_preferences=OpaqueConfig(queries_per_item_type=3),
        n_samples=30,
        failure_threshold=0.5,
    )
    levels = result.manifest["levels"]
    # 12 preference items x 3 query types, one biased query per call.
    assert levels["pool_r0"]["dropped"]["biased_query"] == 36
    assert levels["responses_r0"]["dropped"]["reason_in_response"] > 0
    rows = read_jsonl(tmp_path / "dataset.jsonl")
    assert rows and not (tmp_path / "dataset_cot.jsonl").exists()
    for row in rows:
        user, reply = row["messages"][0]["content"], row["messages"][1]["content"]
        assert user.endswith("Answer without explaining why.")
        assert "affordable" not in user.lower() and "because" not in reply and "<think>" not in reply
    assert all(c.params.temperature == 0.0 for c in backend.calls if c.stage == "aft.judge")
    assert all("gives no reason" in c.messages[0].content for c in backend.calls if c.stage == "aft.judge")


def test_opaque_requires_no_cot() -> None:
    assert AftGenConfig(opaque_preferences=OpaqueConfig()).cot is False  # the default follows the mode
    assert AftGenConfig().cot is True
    with pytest.raises(ValueError, match="cot must be false"):
        AftGenConfig(opaque_preferences=OpaqueConfig(), cot=True)


def test_separate_judge_backend_judges_and_changes_the_key(tmp_path: Path) -> None:
    """A stronger judge can be named apart from the generator: every judge call goes to it, none to the
    generator, its verdicts decide inclusion, and a different judge never reuses the other's checkpoints."""

    def strict_judge(req: ChatRequest) -> str | ChatResponse:
        if req.stage != "aft.judge":
            raise AssertionError(f"judge backend got a {req.stage} call")
        digest = re.findall(r"answer (\w{8})", req.messages[0].content)[0]
        verdict = "EXCLUDE" if int(digest, 16) % 2 else "INCLUDE"
        return f"<reasoning>checked</reasoning>\n<verdict>{verdict}</verdict>"

    gen = ScriptedBackend(fake_responder, model="gen-model")
    judge = ScriptedBackend(strict_judge, model="judge-model")
    config = AftGenConfig(n_samples=6, n_domains=2, queries_per_type=2, max_rounds=6)

    async def go(out: Path, with_judge: bool) -> AftResult:
        client = LLMClient(gen, ClientConfig(cache_dir=out / "cache", max_retries=0))
        jconfig = ClientConfig(cache_dir=out / "cache", max_retries=0)
        jclient = LLMClient(judge, jconfig) if with_judge else None
        return await generate_aft(
            load_spec(SPEC), config, client, out, embedder=HashEmbedder(), judge_client=jclient
        )

    result = asyncio.run(go(tmp_path, True))
    assert not [c for c in gen.calls if c.stage == "aft.judge"]
    assert judge.calls and all(c.stage == "aft.judge" for c in judge.calls)
    excluded = sum(s.get("dropped", {}).get("judge_exclude", 0) for s in result.manifest["levels"].values())
    assert excluded > 0  # the judge's own verdicts, not the generator's, decided
    assert result.manifest["judge_model"] == "judge-model"
    judge_usage = result.manifest["judge_usage"]
    assert judge_usage["model"] == "judge-model" and list(judge_usage["stages"]) == ["aft.judge"]
    assert "aft.judge" not in result.manifest["usage"]["stages"]
    n_judge = len(judge.calls)
    asyncio.run(go(tmp_path, False))  # same folder, no separate judge: a different key, so judged anew
    assert [c for c in gen.calls if c.stage == "aft.judge"]
    assert len(judge.calls) == n_judge


def test_aft_judge_verdict_with_a_dotless_i_is_not_include() -> None:
    import pytest

    from valuesfirst.generate.aft_samples import parse_verdict
    from valuesfirst.generate.parsing import ParseFailure

    assert parse_verdict("<verdict>include</verdict><reasoning>ok</reasoning>")[0] == "INCLUDE"
    assert parse_verdict("<verdict> Exclude </verdict>")[0] == "EXCLUDE"
    with pytest.raises(ParseFailure):
        parse_verdict("<verdict>\u0131nclude</verdict>")  # dotless i: upper() would make it INCLUDE
