"""MSM corpus generation against a scripted backend: counts, provenance, ids, strict rejection."""

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
from valuesfirst.jsonl import read_json, read_jsonl
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest, ChatResponse
from valuesfirst.spec import Spec, load_spec

COUNTS = MidtrainCounts(
    domains=2,
    subdomains_per_domain=2,
    assertions_per_subdomain=3,
    doc_types_per_subdomain=2,
    ideas_per_doc_type=3,
)
PROVENANCE = {
    "id",
    "text",
    "domain",
    "domain_id",
    "subdomain",
    "subdomain_id",
    "assertion_ids",
    "doc_type",
    "doc_type_id",
    "idea",
    "idea_name",
    "idea_id",
    "prompt_version",
    "generator_model",
    "sampling",
    "spec_variant",
}


def spec() -> Spec:
    return load_spec(SPEC)


def run(
    out: Path, responder: Callable[[ChatRequest], str | ChatResponse] = fake_responder, **cfg: object
) -> tuple[MidtrainResult, ScriptedBackend]:
    backend, client = scripted_client(out, responder)
    config = MidtrainGenConfig(counts=COUNTS, **cfg)  # type: ignore[arg-type]
    result = asyncio.run(generate_midtrain(spec(), config, client, out, spec_path=SPEC))
    return result, backend


def test_counts_provenance_and_manifest(tmp_path: Path) -> None:
    result, backend = run(tmp_path)
    rows = read_jsonl(result.dataset)
    # 2 domains x 2 subdomains x 2 doc types x 3 ideas, one document each.
    assert len(rows) == result.n_documents == 24
    levels = result.manifest["levels"]
    assert {k: v["kept"] for k, v in levels.items()} == {
        "domains": 2,
        "subdomains": 4,
        "assertions": 12,
        "doc_types": 8,
        "ideas": 24,
        "documents": 24,
    }
    assert {k: v["calls"] for k, v in levels.items()} == {
        "domains": 1,
        "subdomains": 2,
        "assertions": 4,
        "doc_types": 4,
        "ideas": 8,
        "documents": 24,
    }
    assert len(backend.calls) == 1 + 2 + 4 + 4 + 8 + 24
    for row in rows:
        assert set(row) == PROVENANCE
        assert row["generator_model"] == "gen-model" and row["prompt_version"] == "v1"
        assert row["sampling"] == {"temperature": 1.0, "max_tokens": 5000, "top_p": None}
        assert row["assertion_ids"] and "<content>" not in row["text"] and "scratchpad" not in row["text"]
    assert len({r["id"] for r in rows}) == 24
    # Documents are written with the spec in context (system prompt) and one per idea.
    doc_calls = [c for c in backend.calls if c.stage == "msm.documents"]
    assert all("Cheap things are open to everyone" in (c.system or "") for c in doc_calls)
    assert len({r["idea_id"] for r in rows}) == 24
    man = read_json(tmp_path / "manifest.json")
    assert man["status"] == "complete" and man["inputs"]["spec_content_hash"] == spec().content_hash()
    assert set(man["inputs"]["prompt_template_hashes"]) >= {"document", "ideas", "system"}
    assert man["usage"]["total"]["calls"] == 43
    # Every level left its checkpoint.
    for level in levels:
        assert (tmp_path / "levels" / f"{level}.json").exists()


def test_rerun_makes_no_call_and_same_bytes(tmp_path: Path) -> None:
    result, _ = run(tmp_path)
    first = result.dataset.read_bytes()
    again, backend = run(tmp_path)
    assert again.dataset.read_bytes() == first
    assert backend.calls == []


def test_same_name_ideas_never_collide(tmp_path: Path) -> None:
    def responder(req: ChatRequest) -> str:
        if req.stage == "msm.ideas":
            # Three ideas that share one name, plus an exact repeat of the first.
            ideas = [
                {
                    "name": "Same name",
                    "idea": f"Distinct idea {i} for {hash(req.messages[0].content)}",
                    "assertions": ["A1"],
                }
                for i in range(3)
            ]
            return f"<output>{json.dumps(ideas + ideas[:1])}</output>"
        return fake_responder(req)

    result, _ = run(tmp_path, responder)
    rows = read_jsonl(result.dataset)
    assert len(rows) == 24 and len({r["idea_id"] for r in rows}) == 24
    assert all(r["idea_name"] == "Same name" for r in rows)
    # The fourth idea is beyond the count asked for; counted, not silently merged.
    assert result.manifest["levels"]["ideas"]["dropped"] == {"extra": 8}


def test_exact_duplicate_ideas_are_dropped_and_counted(tmp_path: Path) -> None:
    def responder(req: ChatRequest) -> str:
        if req.stage == "msm.ideas":
            same = {"name": "n", "idea": f"One idea {hash(req.messages[0].content)}", "assertions": ["A1"]}
            return f"<output>{json.dumps([same, same, same])}</output>"
        return fake_responder(req)

    result, _ = run(tmp_path, responder)
    assert result.manifest["levels"]["ideas"]["dropped"] == {"duplicate": 16}
    assert result.n_documents == 8


def test_cut_off_and_unclosed_content_rejected_and_counted(tmp_path: Path) -> None:
    def responder(req: ChatRequest) -> str | ChatResponse:
        text = fake_responder(req)
        if req.stage == "msm.documents" and "(" in text and int(text.split("(")[1][:2], 16) % 4 == 0:
            cut = text[: text.index("</content>") - 5]
            return ChatResponse(text=cut, finish_reason="length", model="gen-model", output_tokens=5000)
        if req.stage == "msm.documents" and "(" in text and int(text.split("(")[1][:2], 16) % 4 == 1:
            return text.replace("</content>", "")  # stopped on its own without closing the block
        return text

    result, _ = run(tmp_path, responder, failure_threshold=0.9)
    docs = result.manifest["levels"]["documents"]
    cut, unclosed = docs["failed"].get("cut_off", 0), docs["failed"].get("unclosed_content", 0)
    assert cut > 0 and unclosed > 0 and docs["failed_calls"] == cut + unclosed
    assert docs["kept"] == 24 - cut - unclosed == result.n_documents
    assert docs["examples"]["cut_off"] == "hit max_tokens=5000 after 5000 tokens"
    assert docs["examples"]["unclosed_content"].startswith("unclosed_content; answer began: <scratchpad>")
    rows = read_jsonl(result.dataset)
    assert all(r["text"].endswith("why.") for r in rows)  # nothing truncated got in
    # Below the 24 documents asked for: the run is short, and says by how much and why.
    assert result.manifest["status"] == "short"
    assert (
        result.short["documents"]["kept"] == result.n_documents and result.short["documents"]["target"] == 24
    )


def test_failure_threshold_stops_with_summary(tmp_path: Path) -> None:
    def responder(req: ChatRequest) -> str:
        if req.stage == "msm.documents":
            return "<scratchpad>plan</scratchpad><content>never closed"
        return fake_responder(req)

    # 24 document calls, threshold 20%: the fifth failed call makes the level's failure certain, so the
    # run stops there instead of paying for the other 19.
    with pytest.raises(
        StageFailed, match=r"level documents: .*unclosed_content=5.*threshold 20%.*early"
    ) as e:
        run(tmp_path, responder)
    assert "unclosed_content x5: unclosed_content; answer began: <scratchpad>plan" in str(e.value)
    assert "max_tokens" not in str(e.value)  # they were not cut off: no advice to raise it
    assert not (tmp_path / "dataset.jsonl").exists()
    man = read_json(tmp_path / "manifest.json")
    assert man["status"] == "stopped" and man["outputs"]["stopped_at"] == "documents"
    assert man["levels"]["documents"]["failed"] == {"unclosed_content": 5}
    assert man["levels"]["documents"]["failed_calls"] == 5 and man["levels"]["documents"]["calls"] == 24
    stopped = read_json(tmp_path / "stopped.json")
    assert stopped["early"] is True and "unclosed_content=5" in stopped["summary"]


def test_paraphrased_spec_section_rejected(tmp_path: Path) -> None:
    def responder(req: ChatRequest) -> str:
        text = fake_responder(req)
        if req.stage == "msm.subdomains":
            items = json.loads(text.split("<output>")[1].split("</output>")[0])
            items[0]["spec_section"] = "The assistant loves luxury goods above all."  # not in the spec
            return f"<output>{json.dumps(items)}</output>"
        return text

    result, _ = run(tmp_path, responder, failure_threshold=0.6)
    subs = result.manifest["levels"]["subdomains"]
    assert subs["failed"] == {"section_not_verbatim": 2} and subs["kept"] == 2
    assert result.n_documents == 12


def test_failed_calls_are_counted_not_kept(tmp_path: Path) -> None:
    from valuesfirst.llm.types import PermanentBackendError

    def responder(req: ChatRequest) -> str | ChatResponse:
        if req.stage == "msm.doc_types" and "topic" in req.messages[0].content and len(backend_calls) % 2:
            raise PermanentBackendError("boom")
        return fake_responder(req)

    backend_calls: list[int] = []

    def counting(req: ChatRequest) -> str | ChatResponse:
        backend_calls.append(1)
        return responder(req)

    result, _ = run(tmp_path, counting, failure_threshold=0.9)
    doc_types = result.manifest["levels"]["doc_types"]
    failed = doc_types["failed"].get("call_error.permanent", 0)
    assert failed >= 1 and doc_types["failed_calls"] == failed
    assert doc_types["examples"]["call_error.permanent"] == "boom"
    assert result.manifest["levels"]["doc_types"]["kept"] == 2 * (4 - failed)
