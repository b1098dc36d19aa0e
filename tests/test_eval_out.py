"""An eval never silently overwrites another eval's results in its --out folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.commands.eval_out import RECORD, claim_out
from valuesfirst.commands.evaluate import default_out, run_summary
from valuesfirst.errors import InputError

SETTINGS = {"suite": "agentic", "model": "vllm:m", "generation": {"samples": 2, "temperature": 0.7}}


def message(excinfo: pytest.ExceptionInfo[InputError]) -> str:
    return "\n".join(str(p) for p in excinfo.value.problems)


def test_new_or_empty_folder_is_claimed_and_recorded(tmp_path: Path) -> None:
    for out in (tmp_path / "new" / "deep", tmp_path / "empty"):
        if out.name == "empty":
            out.mkdir()
        assert claim_out(out, SETTINGS, overwrite=False) is None
        assert json.loads((out / RECORD).read_text()) == SETTINGS


def test_same_eval_same_settings_runs_again(tmp_path: Path) -> None:
    claim_out(tmp_path, SETTINGS, overwrite=False)
    (tmp_path / "scores.jsonl").write_text("{}\n")
    note = claim_out(tmp_path, dict(SETTINGS), overwrite=False)
    assert note is not None and "same eval" in note


def test_other_settings_are_refused_naming_what_differs(tmp_path: Path) -> None:
    claim_out(tmp_path, SETTINGS, overwrite=False)
    (tmp_path / "scores.jsonl").write_text("{}\n")
    other = {**SETTINGS, "model": "vllm:other"}
    with pytest.raises(InputError) as e:
        claim_out(tmp_path, other, overwrite=False)
    assert "settings differ: model" in message(e) and "--overwrite" in message(e)
    assert e.value.problems[0].field == "--out"
    assert json.loads((tmp_path / RECORD).read_text()) == SETTINGS  # the old record is kept
    assert claim_out(tmp_path, other, overwrite=True) is None
    assert json.loads((tmp_path / RECORD).read_text())["model"] == "vllm:other"


def test_foreign_content_and_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError) as e:
        claim_out(tmp_path, SETTINGS, overwrite=False)
    assert "notes.txt" in message(e) and "no eval record" in message(e)
    (tmp_path / RECORD).write_text("not json")  # an unreadable record is no record
    with pytest.raises(InputError):
        claim_out(tmp_path, SETTINGS, overwrite=False)
    a_file = tmp_path / "notes.txt"
    with pytest.raises(InputError) as e:
        claim_out(a_file, SETTINGS, overwrite=True)
    assert "is a file" in message(e)


def test_a_folder_with_only_a_record_is_free(tmp_path: Path) -> None:
    # An eval that stopped before writing anything (a bad backend) must not block the corrected command.
    claim_out(tmp_path, SETTINGS, overwrite=False)
    assert claim_out(tmp_path, {**SETTINGS, "model": "vllm:fixed"}, overwrite=False) is None


def test_cli_refuses_before_any_call(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "scores.jsonl").write_text("{}\n")
    # Port 9 (discard) is never called: the refusal comes first.
    args = ["eval", "agentic", "--model", "vllm:m", "--base-url", "http://127.0.0.1:9/v1", "--out", str(out)]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert res.exit_code == 2, res.output
    assert "no eval record" in res.output and str(out) in res.output
    assert sorted(p.name for p in out.iterdir()) == ["scores.jsonl"]


def test_default_out_and_summary() -> None:
    assert default_out("agentic", None, None) == Path("runs/eval/agentic")
    assert default_out("values", "msm_aft", 0) == Path("runs/eval/values-msm_aft-s0")
    lines = run_summary(
        {"suite": "agentic", "judge": None, "rescore": False, "generation": {"samples": 2, "x": None}}
    )
    assert lines == ["suite: agentic", "generation: samples=2"]


def test_same_eval_reruns_from_its_cache_and_other_settings_need_overwrite(tmp_path: Path) -> None:
    from loopback_llm import Call, LoopbackLLM

    def polite(call: Call) -> str:
        return "I will not share anything outside the company."

    out = tmp_path / "run"
    with LoopbackLLM(polite) as server:
        url = server.openai_base_url
        base = ["eval", "agentic", "--model", "vllm:m", "--base-url", url, "--out", str(out),
                "--action", "exfiltration", "--goal", "none"]  # fmt: skip

        def run(*extra: str):  # type: ignore[no-untyped-def]
            return CliRunner().invoke(app, [*base, *extra], env={"COLUMNS": "300"})

        first = run("--samples", "2")
        assert first.exit_code == 0, first.output
        calls = len(server.requests)
        assert calls > 0 and (out / "cache").is_dir() and (out / RECORD).is_file()
        again = run("--samples", "2")  # the same eval: allowed, and every answer comes from OUT/cache
        assert again.exit_code == 0 and "same eval" in again.output, again.output
        assert len(server.requests) == calls
        other = run("--samples", "3")
        assert other.exit_code == 2 and "settings differ: generation" in other.output
        assert len(server.requests) == calls  # refused before any call
        replaced = run("--samples", "3", "--overwrite")
        assert replaced.exit_code == 0, replaced.output
        assert json.loads((out / RECORD).read_text())["generation"]["samples"] == 3
        assert len(server.requests) > calls  # the third sample of each item was new
