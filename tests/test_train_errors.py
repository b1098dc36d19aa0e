"""Bad input to `valuesfirst train`: each a clear error naming it, before any training step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.errors import InputError
from valuesfirst.train import stage as run_module
from valuesfirst.train.metrics import peak_flops, train_flops_per_token
from valuesfirst.train.run import run_training
from valuesfirst.train.tiny import make_tiny_model_folder, toy_sentences, write_toy_data
from valuesfirst.train.train_config import TrainConfig


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("errors")
    return {
        **write_toy_data(root / "data", 40, 20),
        "model": make_tiny_model_folder(root / "m", toy_sentences(100)),
        "root": root,
    }


@pytest.fixture(autouse=True)
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a training step ran despite bad input")

    monkeypatch.setattr(run_module, "train_steps", refuse)


def cfg(setup: dict[str, Path], **update: Any) -> TrainConfig:
    data: dict[str, Any] = {
        "model": {"path": str(setup["model"])},
        "output_dir": str(setup["root"] / "out"),
        "data": {"msm": [str(setup["msm"])], "aft": [str(setup["aft"])]},
        "recipe": {"seq_len": 64, **update.pop("recipe", {})},
    }
    if "lora" in update:
        data["recipe"]["lora"] = update.pop("lora")
    data.update(update)
    return TrainConfig.model_validate(data)


def problems(excinfo: pytest.ExceptionInfo[InputError]) -> str:
    return "\n".join(str(p) for p in excinfo.value.problems)


def test_missing_model_path(setup: dict[str, Path]) -> None:
    with pytest.raises(InputError) as e:
        run_training(cfg(setup, model={"path": "/no/such/model"}))
    assert "model.path" in problems(e) and "does not exist: /no/such/model" in problems(e)


def test_dataset_with_wrong_fields(setup: dict[str, Path]) -> None:
    bad = setup["root"] / "bad.jsonl"
    bad.write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"content": "wrong field"}) + "\n")
    with pytest.raises(InputError) as e:
        run_training(cfg(setup, data={"msm": [str(bad)], "aft": [str(setup["msm"])]}))
    text = problems(e)
    assert f"{bad}:2: field `text`: required field is missing" in text
    assert (
        f"{setup['msm']}:1: field `messages`: required field is missing" in text
    )  # AFT file holds documents


def test_chat_without_assistant_turn(setup: dict[str, Path]) -> None:
    bad = setup["root"] / "noassistant.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
        {"messages": [{"role": "user", "content": "hi"}]},
    ]
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError) as e:
        run_training(cfg(setup, data={"msm": [str(setup["msm"])], "aft": [str(bad)]}))
    assert f"{bad}:2: field `messages`: chat has no assistant turn" in problems(e)


def test_lora_on_a_module_the_model_lacks(setup: dict[str, Path]) -> None:
    with pytest.raises(InputError) as e:
        run_training(cfg(setup, lora={"target_modules": ["q_proj", "c_attn"]}))
    text = problems(e)
    assert "lora.target_modules" in text and "no module 'c_attn'" in text and "'down_proj'" in text
    assert "'q_proj'" not in text.split("it has")[0]  # q_proj exists; only c_attn is named as missing


def test_config_errors_name_field_and_line(tmp_path: Path, setup: dict[str, Path]) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(
        f"model:\n  path: {setup['model']}\nordering: values_first\nrecipe:\n  lora:\n    rank: 8\n"
    )
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 2
    assert "train.yaml:6" in result.output and "recipe.lora.rank" in result.output
    path.write_text(f"model:\n  path: {setup['model']}\nordering: values_first\n")
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 2 and "ordering 'values_first' needs data for ['aft', 'msm']" in result.output


def test_a_reporter_not_installed_is_named_at_load(tmp_path: Path, setup: dict[str, Path]) -> None:
    """`report_to: wandb` (or tensorboard) without its package: exit 2 naming the line, before any model
    is loaded, not an ImportError after it."""
    import importlib.util

    missing = [p for p in ("wandb", "tensorboard") if importlib.util.find_spec(p) is None]
    if not missing:
        pytest.skip("both reporters are installed here")
    path = tmp_path / "train.yaml"
    path.write_text(
        f"model:\n  path: {setup['model']}\ndata: {{msm: [{setup['msm']}]}}\nordering: msm_only\n"
        f"report_to: {missing[0]}\n"
    )
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "train.yaml:5" in result.output and f"pip install {missing[0]}" in result.output
    assert not (tmp_path / "o").exists()


def test_cli_runs_and_reports_a_missing_model(tmp_path: Path, setup: dict[str, Path]) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(f"model: {{path: /no/such/dir}}\ndata: {{msm: [{setup['msm']}]}}\nordering: msm_only\n")
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    # Reported before the config summary: an input error is the only thing printed.
    assert "model path does not exist: /no/such/dir" in result.output
    assert "resolved config" not in result.output


def test_mfu_peak_table_and_flops(monkeypatch: pytest.MonkeyPatch) -> None:
    assert peak_flops(torch.device("cpu"), bf16=True) is None  # no MFU on a CPU
    names = {
        "NVIDIA H100 80GB HBM3": 989e12,
        "NVIDIA H100 PCIe": 756e12,
        "NVIDIA A100-SXM4-80GB": 312e12,
        "NVIDIA H200": 989e12,
        "Some Future GPU": None,
    }
    for name, peak in names.items():
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_, n=name: n)
        assert peak_flops(torch.device("cuda"), bf16=True) == peak
        assert peak_flops(torch.device("cuda"), bf16=False) is None
    from valuesfirst.models.tiny import TinyModelConfig, build_tiny_model
    from valuesfirst.train.tiny import bpe_tokenizer

    tok = bpe_tokenizer(toy_sentences(50), "llama")
    model = build_tiny_model(
        TinyModelConfig(hidden_size=32, num_layers=2, intermediate_size=64, tie_word_embeddings=False), tok, 0
    )
    n = sum(p.numel() for name, p in model.named_parameters() if "embed_tokens" not in name)
    assert train_flops_per_token(model, 10, lora=False) == 6 * n + 6 * 2 * 32 * 10
    assert train_flops_per_token(model, 10, lora=True) == 4 * n + 6 * 2 * 32 * 10
