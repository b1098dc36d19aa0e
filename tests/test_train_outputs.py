"""What a finished `valuesfirst train` run leaves behind: small adapters that rebuild the model exactly, no
leftover checkpoints, and a seq_len the model can hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from valuesfirst.errors import InputError
from valuesfirst.train.lineage import Lineage, load_tokenizer, merged
from valuesfirst.train.run import run_training
from valuesfirst.train.tiny import make_tiny_model_folder, toy_sentences, write_toy_data
from valuesfirst.train.train_config import TrainConfig


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("outputs")
    paths = write_toy_data(root / "data", 40, 30)
    # Llama-style: untied embeddings and a vocabulary without ChatML, so the template adds two tokens.
    return {
        **paths,
        "model": make_tiny_model_folder(root / "llama", toy_sentences(100), arch="llama"),
        "root": root,
    }


def config(setup: dict[str, Path], out: str, **extra: Any) -> TrainConfig:
    data: dict[str, Any] = {
        "model": {"path": str(setup["model"])},
        "data": {"msm": [str(setup["msm"])], "aft": [str(setup["aft"])]},
        "recipe": {"lr": 3e-3, "max_steps": 4, "epochs": 10, "seq_len": 96, "batch_size": 2, "grad_accum": 1,
                   "lora": {"r": 4, "alpha": 8}},
        "output_dir": str(setup["root"] / out),
        "report_to": "none",
        "resume": False,
        **extra,
    }  # fmt: skip
    return TrainConfig.model_validate(data)


def test_adapter_holds_no_embedding_matrices_yet_rebuilds_the_model(setup: dict[str, Path]) -> None:
    cfg = config(setup, "tokens", ordering="aft_only")
    run_training(cfg, log=lambda _: None)
    stage = Path(cfg.output_dir) / "0-aft"
    with safe_open(str(stage / "adapter" / "adapter_model.safetensors"), "pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    tokenizer, added = load_tokenizer(cfg.model, needs_chat=True)
    assert added == ["<|im_start|>", "<|im_end|>"]
    vocab = len(tokenizer)
    # Only the LoRA matrices and the two added tokens' rows: never a full (vocab x hidden) matrix.
    assert all(vocab not in shape for shape in shapes.values()), shapes
    assert any("trainable_tokens" in k or "token_adapter" in k for k in shapes), sorted(shapes)
    # Base + adapter (lineage.json) gives exactly the merged model the run saved.
    lineage = Lineage.read(stage)
    assert lineage.base == cfg.model.path and lineage.adapters == (str((stage / "adapter").resolve()),)
    rebuilt = merged(cfg.model, lineage, tokenizer, torch.float32, seed=0).eval()
    from transformers import AutoModelForCausalLM

    saved = AutoModelForCausalLM.from_pretrained(stage / "model", use_safetensors=True).eval()
    enc = tokenizer.apply_chat_template([{"role": "user", "content": "hello"}], tokenize=True)
    ids = torch.tensor([enc["input_ids"]])
    with torch.no_grad():
        assert torch.equal(rebuilt(ids).logits, saved(ids).logits)


def test_finished_run_removes_its_checkpoints(setup: dict[str, Path]) -> None:
    cfg = config(setup, "ckpt", checkpoint_every=2)
    run_training(cfg, log=lambda _: None)
    assert (Path(cfg.output_dir) / "1-aft" / "summary.json").is_file()
    assert not (Path(cfg.output_dir) / "checkpoints").exists()
    kept = config(setup, "ckpt-kept", checkpoint_every=2, keep_checkpoints=True)
    run_training(kept, log=lambda _: None)
    assert (Path(kept.output_dir) / "checkpoints" / "latest").is_file()


def test_seq_len_longer_than_the_context_fails_before_training(setup: dict[str, Path]) -> None:
    cfg = config(setup, "long")
    cfg = cfg.model_copy(update={"recipe": cfg.recipe.model_copy(update={"seq_len": 4096})})
    with pytest.raises(InputError) as e:
        run_training(cfg, log=lambda _: None)
    text = str(e.value)
    assert "recipe.seq_len" in text and "4096" in text and "context of 512" in text
    assert not (Path(cfg.output_dir) / "0-msm").exists()
