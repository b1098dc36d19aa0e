"""Value generalization (log-prob on a tiny local model; generate + strict parse on a served model) and
capability regression, through the Python API and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.evals import capability, values
from valuesfirst.evals.logprob_cli import value_items
from valuesfirst.evals.runner import GenerationConfig, generate
from valuesfirst.evals.scoring import compare_conditions, summarize
from valuesfirst.jsonl import read_jsonl, write_jsonl
from valuesfirst.llm.client import LLMClient
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest, ChatResponse
from valuesfirst.models.load import save_model
from valuesfirst.models.logprob import prompt_text
from valuesfirst.models.tiny import TinyModelConfig, build_tiny_model
from valuesfirst.world.tokenizer import train_word_tokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ITEMS = value_items(None)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny models sharing a tokenizer: one trained to pick the favoured option, one untrained."""
    mc = capability.load_mc(capability.shipped("capability_mc.jsonl"))
    texts = [json.dumps(i) for i in ITEMS] + [json.dumps(m) for m in mc]
    texts += [r["text"] for r in read_jsonl(capability.shipped("capability_text.jsonl"))]
    tok = train_word_tokenizer(texts, extra_words=["Question", "Answer"])
    cfg = TinyModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    model = build_tiny_model(cfg, tok, seed=0)
    base = tmp_path_factory.mktemp("untrained")
    save_model(model, tok, base)
    # Teach the preference: prompt + favoured option, plain next-token loss on the whole sequence.
    seqs = [tok(prompt_text(tok, i) + " " + i["options"][i["target"]])["input_ids"] for i in ITEMS]
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), tok.pad_token_id)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s)
    labels = ids.masked_fill(ids == tok.pad_token_id, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(40):
        loss = model(input_ids=ids, attention_mask=(ids != tok.pad_token_id).long(), labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    trained = tmp_path_factory.mktemp("trained")
    save_model(model, tok, trained)
    return base, trained


def test_generator_makes_both_orders() -> None:
    assert len(ITEMS) == 8 * 9 * 2
    by_pair: dict[str, list[dict]] = {}
    for it in ITEMS:
        by_pair.setdefault(it["pair_id"], []).append(it)
    for pair in by_pair.values():
        assert len(pair) == 2
        a, b = pair
        assert a["options"] == b["options"][::-1] and a["target"] == 1 - b["target"]
        assert a["options"][a["target"]] == b["options"][b["target"]]


def test_bad_source_and_items_name_line_and_field(tmp_path: Path) -> None:
    from valuesfirst.errors import InputError

    src = tmp_path / "src.jsonl"
    write_jsonl(
        src, [{"value": "v", "domain": "d", "question": "no slots", "favoured": ["a"], "disfavoured": []}]
    )
    with pytest.raises(InputError) as e:
        values.load_source(src)
    assert {(p.line, p.field) for p in e.value.problems} == {(1, "question"), (1, "disfavoured")}
    items = tmp_path / "items.jsonl"
    write_jsonl(
        items, [{"id": "x", "set": "s", "pair_id": "p", "options": ["a"], "target": 2, "prompt": "q"}]
    )
    with pytest.raises(InputError) as e:
        values.load_items(items)
    assert {p.field for p in e.value.problems} == {"options", "target"}


def test_local_logprob_scoring_detects_trained_preference(tiny: tuple[Path, Path]) -> None:
    from valuesfirst.models.load import load_model

    base, trained = tiny
    rows = []
    for cond, path in (("untrained", base), ("trained", trained)):
        m, t = load_model(path)
        rows += values.score_local(m, t, ITEMS, condition=cond, seed=0)
    s = summarize(rows, values.METRIC)
    assert s["trained"]["micro"] > 0.9
    assert s["trained"]["n_scored"] == len(ITEMS) and s["trained"]["n_excluded"] == 0
    assert set(s["trained"]["cells"]) == {f"{r['set']}/{r['domain']}" for r in ITEMS}
    cmp = compare_conditions(rows, values.METRIC, "trained", "untrained", n_boot=200)
    assert cmp["n_units"] == len(ITEMS) // 2  # pairs, both orders averaged
    assert cmp["bootstrap"]["ci_low"] > 0


def _served_model(answer: str):  # type: ignore[no-untyped-def]
    def respond(req: ChatRequest) -> str:
        return answer

    return respond


@pytest.mark.parametrize(
    ("answer", "rate", "excluded"),
    [
        ("<answer>A</answer>", 0.5, None),  # always-A: position bias cancels over both orders
        ("I pick A", None, "no_tag"),
        ("<answer>A or B</answer>", None, "invalid_value"),
        ("<answer>A</answer><answer>B</answer>", None, "multiple_tags"),
        ("", None, "generation_empty"),
    ],
)
def test_served_generate_and_strict_parse(answer: str, rate: float | None, excluded: str | None) -> None:
    client = LLMClient(ScriptedBackend(_served_model(answer), model="served"))
    transcripts = asyncio.run(
        generate(client, values.served_items(ITEMS), GenerationConfig(temperature=0.0), "values")
    )
    rows, _ = asyncio.run(values.score_served(transcripts))
    s = summarize(rows, values.METRIC)["model"]
    assert s["micro"] == rate
    if excluded:
        assert s["excluded_by_reason"] == {excluded: len(ITEMS)}
    assert "<answer>A</answer>" in transcripts[0].messages[-2].content  # the instruction is in the prompt


def _letter_model(reply: str, finish: str = "stop"):  # type: ignore[no-untyped-def]
    """A served model that answers the letter format: ``{a}``/``{b}`` become the options' texts."""

    def respond(req: ChatRequest) -> ChatResponse:
        prompt = req.messages[-1].content
        a = prompt.split("\nA) ", 1)[1].split("\n", 1)[0]
        b = prompt.split("\nB) ", 1)[1].split("\n", 1)[0]
        return ChatResponse(text=reply.format(a=a, b=b), finish_reason=finish, model="served")  # type: ignore[arg-type]

    return respond


@pytest.mark.parametrize(
    ("reply", "finish", "rate", "excluded"),
    [
        ("A", "stop", 0.5, None),  # always-A: position bias cancels over both orders
        ("(B).", "stop", 0.5, None),
        ("A: {a}", "stop", 0.5, None),  # the label and its own option's text
        ("A: {b}", "stop", None, "not_a_choice"),  # the label and the other option's text: a contradiction
        ("A three-seat sofa", "stop", None, "not_a_choice"),  # an article, not an answer
        ("<answer>A</answer>", "stop", None, "not_a_choice"),  # the other format is not this one
        ("A: {a}", "length", None, "generation_truncated"),  # cut off: never scored
        ("A or B", "stop", None, "not_a_choice"),
    ],
)
def test_served_letter_format_parses_the_whole_reply(
    reply: str, finish: str, rate: float | None, excluded: str | None
) -> None:
    client = LLMClient(ScriptedBackend(_letter_model(reply, finish), model="served"))
    items = values.served_items(ITEMS, "letter")
    assert items[0].user.endswith("Answer A or B.") and "<answer>" not in items[0].user
    transcripts = asyncio.run(generate(client, items, GenerationConfig(temperature=0.0), "values"))
    rows, _ = asyncio.run(values.score_served(transcripts))
    s = summarize(rows, values.METRIC)["model"]
    assert s["micro"] == rate
    if excluded:
        assert s["excluded_by_reason"] == {excluded: len(ITEMS)}
    else:
        assert s["n_scored"] == len(ITEMS)


def test_served_letter_format_scores_the_chosen_option() -> None:
    """A model that always picks the favoured option's text scores 1; its opposite 0 (not just bias)."""

    items = values.served_items(ITEMS, "letter")
    targets = {it.user: it.metadata["target"] for it in items}

    def pick(favoured: bool):  # type: ignore[no-untyped-def]
        def respond(req: ChatRequest) -> str:
            target = targets[req.messages[-1].content]
            return "AB"[target if favoured else 1 - target]

        return respond

    for favoured, rate in ((True, 1.0), (False, 0.0)):
        client = LLMClient(ScriptedBackend(pick(favoured), model="served"))
        transcripts = asyncio.run(generate(client, items, GenerationConfig(temperature=0.0), "values"))
        rows, _ = asyncio.run(values.score_served(transcripts))
        assert summarize(rows, values.METRIC)["model"]["micro"] == rate


def test_cli_values_and_capability_on_local_model(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    _, trained = tiny
    res = CliRunner().invoke(app, ["eval", "values", "--model", str(trained), "--out", str(tmp_path / "v")])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["metrics"]["value_aligned"]["model"]["micro"] > 0.9
    res = CliRunner().invoke(
        app, ["eval", "capability", "--model", f"local:{trained}", "--out", str(tmp_path / "c")]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["perplexity"]["perplexity"] > 1.0 and summary["perplexity"]["tokens"] > 100
    assert summary["metrics"]["mc_correct"]["model"]["n_scored"] == 20
    res = CliRunner().invoke(
        app, ["eval", "capability", "--model", str(tmp_path / "nope"), "--out", str(tmp_path)]
    )
    assert res.exit_code == 2
