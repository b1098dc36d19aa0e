"""``valuesfirst generate midtrain|aft`` end to end: preview without calls, exit codes, token stats."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from generate_helpers import SPEC, fake_api_key, generate_args, loopback_handler
from loopback_llm import LoopbackLLM
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.jsonl import read_json, read_jsonl

SMALL = ["--domains", "1", "--subdomains", "2", "--assertions", "2", "--doc-types", "1", "--ideas", "2"]
runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def test_preview_makes_zero_calls(tmp_path: Path) -> None:
    key = {"VF_KEY": fake_api_key()}
    with LoopbackLLM(loopback_handler) as server:
        for cmd in ("midtrain", "aft"):
            url = server.openai_base_url
            args = generate_args(cmd, tmp_path / cmd, "openai:gpt-4o-mini", base_url=url, key_env="VF_KEY")
            res = invoke(*args, "--preview", env=key)
            assert res.exit_code == 0, res.output
            assert "no call made" in res.output and "documents" in res.output or "judge" in res.output
            assert "$" in res.output  # priced model: a cost column with dollars
        assert server.requests == [] if hasattr(server, "requests") else server.calls("openai.chat") == []
    assert not (tmp_path / "midtrain" / "cache").exists()


def test_the_banner_is_a_short_summary_not_the_config_json(tmp_path: Path) -> None:
    """The resolved config (~60 fields) goes to OUT/manifest.json; the terminal gets a few lines that
    still show the numbers worth checking before paying for calls."""
    for cmd in ("midtrain", "aft"):
        res = invoke(*generate_args(cmd, tmp_path / cmd, "fake:"), "--preview")
        assert res.exit_code == 0, res.output
        banner = res.output.split("Projected generation")[0].strip().splitlines()
        assert len(banner) <= 12, banner
        assert "{" not in res.output.split("Projected generation")[0]  # no JSON
        assert any(line.strip().startswith("sampling: ") and "T1.0/" in line for line in banner), banner
        assert "manifest.json" in banner[-1]


def test_preview_counts_follow_config(tmp_path: Path) -> None:
    res = invoke(*generate_args("midtrain", tmp_path), "--preview", *SMALL)
    assert res.exit_code == 0
    doc_row = next(line for line in res.output.splitlines() if "documents" in line and "│" in line)
    # 1 domain x 2 subdomains x 1 doc type x 2 ideas = 4 document calls.
    assert doc_row.split("│")[2].strip() == "4" and "unknown" in doc_row  # fake model: no price


def test_invalid_spec_exit_2_names_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.read_text().replace("    why:", "    wy:"))
    res = runner.invoke(app, generate_args("midtrain", tmp_path / "o", spec=bad))
    assert res.exit_code == 2
    assert "wy" in res.output and "bad.yaml" in res.output


def test_bad_config_exit_2_with_line(tmp_path: Path) -> None:
    cfg = tmp_path / "gen.yaml"
    cfg.write_text("counts:\n  domains: 2\n  subdomian_per_domain: 3\n")
    res = runner.invoke(app, [*generate_args("midtrain", tmp_path / "o"), "--config", str(cfg)])
    assert res.exit_code == 2 and "gen.yaml:3" in res.output and "subdomian_per_domain" in res.output
    res = runner.invoke(app, [*generate_args("aft", tmp_path / "o"), "--style", "poetic"])
    assert res.exit_code == 2 and "style" in res.output


def test_missing_api_key_is_exit_2_before_any_call(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VF_ABSENT_KEY"}
    with LoopbackLLM(loopback_handler) as server:
        url = server.openai_base_url
        args = generate_args("midtrain", tmp_path / "o", "openai:gen", base_url=url, key_env="VF_ABSENT_KEY")
        res = runner.invoke(app, args, env=env)
        assert server.calls("openai.chat") == []
    assert res.exit_code == 2 and "VF_ABSENT_KEY" in res.output


def test_midtrain_loopback_with_tokenizer_stats(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        ["the assistant explains what it values and why"], trainers.WordLevelTrainer(special_tokens=["[UNK]"])
    )
    tok_dir = tmp_path / "tok"
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(tok_dir)
    key = {"VF_KEY": fake_api_key()}
    out = tmp_path / "o"
    with LoopbackLLM(loopback_handler) as server:
        args = generate_args("midtrain", out, "openai:gen", base_url=server.openai_base_url, key_env="VF_KEY")
        res = invoke(*args, "--tokenizer", str(tok_dir), "--no-progress", *SMALL, env=key)
        n_calls = len(server.calls("openai.chat"))
    assert res.exit_code == 0, res.output
    assert n_calls == 1 + 1 + 2 + 2 + 2 + 4
    rows = read_jsonl(out / "dataset.jsonl")
    stats = read_json(out / "token_stats.json")
    assert (
        stats["n"] == len(rows) == 4
        and stats["total"] > 0
        and stats["min"] <= stats["median"] <= stats["max"]
    )
    assert (out / "length_histogram.png").read_bytes()[:4] == b"\x89PNG"
    manifest = read_json(out / "manifest.json")
    assert manifest["generator_model"] == "gen" and "sk-" not in json.dumps(manifest)


def test_stage_failure_exit_1_with_summary(tmp_path: Path) -> None:
    def broken(call: Any) -> str:
        text = loopback_handler(call)
        return text.replace("</content>", "") if "Write this document." in call.last_user else text

    key = {"VF_KEY": fake_api_key()}
    with LoopbackLLM(broken) as server:
        url = server.openai_base_url
        args = generate_args("midtrain", tmp_path / "o", "openai:gen", base_url=url, key_env="VF_KEY")
        res = runner.invoke(app, [*args, "--no-progress", *SMALL], env=key)
    assert res.exit_code == 1
    assert re.search(r"unclosed_content=\d", res.output) and "threshold" in res.output
    assert read_json(tmp_path / "o" / "manifest.json")["status"] == "stopped"


def test_aft_opaque_cli_with_fake_backend(tmp_path: Path) -> None:
    cfg = tmp_path / "aft.yaml"
    cfg.write_text("dedup_threshold: null\nn_samples: 6\nopaque_preferences:\n  queries_per_item_type: 1\n")
    res = invoke(
        *generate_args("aft", tmp_path / "o"), "--config", str(cfg), "--opaque-preferences", "--no-progress"
    )
    assert res.exit_code == 0, res.output
    rows = read_jsonl(tmp_path / "o" / "dataset.jsonl")
    assert len(rows) == 6 and all(r["messages"][0]["content"].endswith("explaining why.") for r in rows)
    manifest = read_json(tmp_path / "o" / "manifest.json")
    assert manifest["config"]["cot"] is False and manifest["outputs"]["n_samples"] == 6


@pytest.mark.parametrize("variant", ["rules_only", "rules_augmented", "general"])
def test_variant_flag_changes_generator_context(variant: str, tmp_path: Path) -> None:
    res = invoke(*generate_args("midtrain", tmp_path), "--variant", variant, "--no-progress", *SMALL)
    assert res.exit_code == 0, res.output
    rows = read_jsonl(tmp_path / "dataset.jsonl")
    assert rows and {r["spec_variant"] for r in rows} == {variant}


@pytest.mark.parametrize("name", ["midtrain", "aft", "aft_cheese_opaque"])
def test_packaged_configs_load(name: str) -> None:
    from importlib import resources

    from valuesfirst.generate.config import AftGenConfig, MidtrainGenConfig, load_gen_config

    path = Path(str(resources.files("valuesfirst") / "configs" / "generate" / f"{name}.yaml"))
    cls = MidtrainGenConfig if name == "midtrain" else AftGenConfig
    cfg = load_gen_config(path, cls, {})
    if name == "aft_cheese_opaque":
        assert isinstance(cfg, AftGenConfig) and cfg.opaque_preferences is not None and cfg.cot is False
