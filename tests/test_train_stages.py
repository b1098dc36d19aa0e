"""`valuesfirst train` on tiny random Qwen3- and Llama-style models: loss, orderings, adapter continuation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from valuesfirst.train.data import it_count, load_stage_data, stage_examples
from valuesfirst.train.run import run_training
from valuesfirst.train.tiny import make_tiny_model_folder, toy_sentences, write_toy_data
from valuesfirst.train.train_config import TrainConfig


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train")
    paths = write_toy_data(root / "data")
    texts = toy_sentences(200)
    return {
        **paths,
        "qwen3": make_tiny_model_folder(root / "qwen3", texts, arch="qwen3"),
        "llama": make_tiny_model_folder(root / "llama", texts, arch="llama"),
        "root": root,
    }


def config(setup: dict[str, Path], out: str, **extra: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "model": {"path": str(setup[extra.pop("arch", "qwen3")])},
        "data": {"msm": [str(setup["msm"])], "aft": [str(setup["aft"])]},
        "recipe": {"lr": 3e-3, "max_steps": 6, "epochs": 10, "seq_len": 96, "batch_size": 4, "grad_accum": 1},
        "output_dir": str(setup["root"] / out),
        "log_every": 2,
        "report_to": "none",
        "resume": False,
    }
    for key in ("finetune", "lora"):
        if key in extra:
            extra.setdefault("recipe", {})[key] = extra.pop(key)
    for key, value in extra.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and key in base else value
    return TrainConfig.model_validate(base)


def summary(out: Path, stage: str) -> dict[str, Any]:
    return dict(json.loads((out / stage / "summary.json").read_text()))


def adapter(out: Path, stage: str) -> dict[str, torch.Tensor]:
    return load_file(str(out / stage / "adapter" / "adapter_model.safetensors"))


@pytest.mark.parametrize("arch", ["qwen3", "llama"])
def test_loss_falls_in_both_stages(setup: dict[str, Path], arch: str) -> None:
    # Full fine-tuning: LoRA on a *random* model barely moves the loss (its embeddings are frozen noise);
    # the LoRA path is exercised by the tests below.
    cfg = config(setup, f"falls-{arch}", arch=arch, finetune="full", recipe={"max_steps": 12, "lr": 3e-3})
    run_training(cfg, log=lambda _: None)
    for stage in ("0-msm", "1-aft"):
        s = summary(cfg.output_dir, stage)
        assert s["steps"] == 12
        assert s["loss_final"] < 0.85 * s["loss_first"], (stage, s["loss_first"], s["loss_final"])
    rows = [json.loads(line) for line in (cfg.output_dir / "metrics.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in rows} == {"msm", "aft"}
    assert all(r["tokens_per_s"] > 0 and r["mfu"] is None for r in rows)  # no known peak on a CPU
    assert (
        json.loads((cfg.output_dir / "train_config.json").read_text())["config"]["ordering"] == "values_first"
    )


def test_aft_continues_the_msm_adapter_and_merges(setup: dict[str, Path]) -> None:
    cfg = config(setup, "continue")
    run_training(cfg, log=lambda _: None)
    out = cfg.output_dir
    msm, aft = summary(out, "0-msm"), summary(out, "1-aft")
    assert aft["start_digest"] == msm["end_digest"]  # AFT step 0 = exactly the MSM adapter
    assert aft["end_digest"] != aft["start_digest"]
    a, b = adapter(out, "0-msm"), adapter(out, "1-aft")
    assert set(a) == set(b) and any("lora_B" in k for k in a)
    flat_a = torch.cat([a[k].flatten() for k in sorted(a) if "lora_B" in k])
    flat_b = torch.cat([b[k].flatten() for k in sorted(b) if "lora_B" in k])
    cosine = float(torch.nn.functional.cosine_similarity(flat_a, flat_b, dim=0))
    assert 0.5 < cosine < 1.0  # a fresh adapter would start from lora_B = 0 (cosine ~0)
    # The merged model equals base + adapter.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = AutoModelForCausalLM.from_pretrained(out / "1-aft" / "model").eval()
    base = AutoModelForCausalLM.from_pretrained(setup["qwen3"]).eval()
    with_adapter = PeftModel.from_pretrained(base, str(out / "1-aft" / "adapter")).eval()
    ids = torch.tensor([[5, 17, 42, 9, 88, 3]])
    with torch.no_grad():
        diff = (merged(ids).logits - with_adapter(ids).logits).abs().max()
    assert float(diff) < 1e-4
    tok = AutoTokenizer.from_pretrained(out / "1-aft" / "model")
    assert tok.eos_token == "<|im_end|>" and "generation" in tok.chat_template  # ChatML end of turn = EOS


def test_fresh_adapter_when_not_continuing(setup: dict[str, Path]) -> None:
    cfg = config(setup, "fresh", lora={"continue_adapter": False}, recipe={"max_steps": 2})
    run_training(cfg, log=lambda _: None)
    assert summary(cfg.output_dir, "1-aft")["start_digest"] != summary(cfg.output_dir, "0-msm")["end_digest"]
    b = adapter(cfg.output_dir, "1-aft")
    assert all(float(v.abs().max()) < 0.05 for k, v in b.items() if "lora_B" in k)  # started at zero


@pytest.mark.parametrize(
    ("ordering", "dirs"),
    [("behaviour_first", ["0-aft", "1-msm"]), ("mixed", ["0-mixed"]), ("aft_only", ["0-aft"])],
)
def test_orderings_run_their_stages(setup: dict[str, Path], ordering: str, dirs: list[str]) -> None:
    cfg = config(setup, f"order-{ordering}", ordering=ordering, recipe={"max_steps": 2})
    result = run_training(cfg, log=lambda _: None)
    assert [Path(p).name for p in result["stages"]] == dirs
    for d in dirs:
        assert (cfg.output_dir / d / "model" / "model.safetensors").is_file()


def test_mixed_stage_is_one_stream_and_it_mix_ratio(setup: dict[str, Path]) -> None:
    from transformers import AutoTokenizer

    from valuesfirst.train.chat import setup_chat_template

    tok = AutoTokenizer.from_pretrained(setup["qwen3"])
    setup_chat_template(tok, "auto")
    data = load_stage_data(config(setup, "x").data.model_copy(update={"it": [setup["aft"]]}))
    mixed = stage_examples("mixed", data, tok, 0.0, seed=0)
    assert len(mixed) == len(data.msm) + len(data.aft)
    kinds = ["doc" if all(e.loss_mask) else "chat" for e in mixed]
    assert "chat" in kinds[: len(kinds) // 2] and "doc" in kinds[: len(kinds) // 2]  # shuffled together
    assert it_count(60, 0.5) == 60 and it_count(60, 0.2) == 15 and it_count(60, 0.0) == 0
    with_it = stage_examples("aft", data, tok, 0.2, seed=0)
    assert len(with_it) == len(data.aft) + 15


def test_full_finetuning_trains_every_weight(setup: dict[str, Path]) -> None:
    cfg = config(setup, "full", finetune="full", ordering="msm_only", recipe={"max_steps": 8, "lr": 1e-2})
    run_training(cfg, log=lambda _: None)
    s = summary(cfg.output_dir, "0-msm")
    assert s["loss_final"] < 0.8 * s["loss_first"]
    assert not (cfg.output_dir / "0-msm" / "adapter").exists()
    before = load_file(str(setup["qwen3"] / "model.safetensors"))
    after = load_file(str(cfg.output_dir / "0-msm" / "model" / "model.safetensors"))
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) == len(before)
