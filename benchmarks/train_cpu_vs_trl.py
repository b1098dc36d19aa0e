"""CPU throughput of `valuesfirst train` vs a plain TRL SFTTrainer on the same model and data.

Both train the same tiny random Qwen3-style model (full fine-tuning, fp32, AdamW, same batch of rows and
the same number of optimizer steps) on the same midtraining documents and AFT chats. Reported: non-pad
tokens per second of training and the fraction of non-pad tokens in the batches the model ran on.

    OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/train_cpu_vs_trl.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from valuesfirst.models.tiny import TinyModelConfig
from valuesfirst.train.run import run_training
from valuesfirst.train.schedule import BatchPlan
from valuesfirst.train.tiny import make_tiny_model_folder, toy_sentences, write_toy_data
from valuesfirst.train.train_config import TrainConfig

SEQ_LEN, BATCH, STEPS = 512, 8, 20
ARCH = TinyModelConfig(arch="qwen3", hidden_size=128, num_layers=4, num_heads=4, num_kv_heads=2,
                       intermediate_size=320, attn_implementation="sdpa")  # fmt: skip


def ours(root: Path, model: Path, data: dict[str, Path], stage: str) -> dict:
    cfg = TrainConfig.model_validate({
        "model": {"path": str(model)}, "data": {stage: [str(data[stage])]}, "ordering": f"{stage}_only",
        "recipe": {"finetune": "full", "seq_len": SEQ_LEN, "batch_size": BATCH, "grad_accum": 1, "lr": 1e-4,
                   "max_steps": STEPS, "epochs": 100, "threads": 2},
        "output_dir": str(root / f"ours-{stage}"), "report_to": "none", "log_every": STEPS, "resume": False,
    })  # fmt: skip
    run_training(cfg, log=lambda _: None)
    s = json.loads((cfg.output_dir / f"0-{stage}" / "summary.json").read_text())
    # Non-pad fraction of the batches actually run: rows padded to the longest row of their batch.
    from valuesfirst.train.data import load_stage_data, stage_examples, stage_rows
    from valuesfirst.train.lineage import load_tokenizer

    tok, _ = load_tokenizer(cfg.model, stage == "aft")
    rows = stage_rows(stage_examples(stage, load_stage_data(cfg.data), tok, 0.0, cfg.seed), SEQ_LEN, True)
    plan = BatchPlan(len(rows), BATCH, 1, 1, 0, cfg.seed)
    real = slots = 0
    for step in range(STEPS):
        (ids,) = plan.micro_batches(step)
        lengths = [len(rows[k]) for k in ids]
        real, slots = real + sum(lengths), slots + max(lengths) * len(lengths)
    return {"tokens_per_s": s["tokens_per_s"], "nonpad_fraction": real / slots, "seconds": s["seconds"]}


def trl(root: Path, model_dir: Path, data: dict[str, Path], stage: str) -> dict:
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from valuesfirst.train.chat import setup_chat_template

    tok = AutoTokenizer.from_pretrained(model_dir)
    setup_chat_template(tok, "auto")
    tok.pad_token = "<|im_start|>"  # any id: TRL masks pads by attention_mask; eos as pad is the classic bug
    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa")
    dataset = load_dataset("json", data_files=str(data[stage]), split="train")
    args = SFTConfig(
        output_dir=str(root / f"trl-{stage}"), max_steps=STEPS, per_device_train_batch_size=BATCH,
        learning_rate=1e-4, max_length=SEQ_LEN, logging_steps=STEPS, save_strategy="no", report_to=[],
        assistant_only_loss=stage == "aft", use_cpu=True, bf16=False, dataloader_num_workers=0,
        seed=0, disable_tqdm=True,
    )  # fmt: skip
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok)
    real = slots = 0
    loader = trainer.get_train_dataloader()
    for i, batch in enumerate(loader):
        if i >= STEPS:
            break
        mask = batch["attention_mask"]
        real, slots = real + int(mask.sum()), slots + mask.numel()
    # TRL's own train_runtime (its training loop only), the same span our summary's seconds cover.
    seconds = float(trainer.train().metrics["train_runtime"])
    return {
        "tokens_per_s": round(real / seconds, 1),
        "nonpad_fraction": real / slots,
        "seconds": round(seconds, 2),
    }


def main() -> None:
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_toy_data(root / "data", n_docs=2000, n_chats=1000)
        model = make_tiny_model_folder(root / "model", toy_sentences(1000), arch="qwen3", model=ARCH)
        results = {}
        for stage in ("msm", "aft"):
            results[stage] = {
                "valuesfirst": ours(root, model, data, stage),
                "trl": trl(root, model, data, stage),
            }
            r = results[stage]
            r["ratio"] = round(r["valuesfirst"]["tokens_per_s"] / r["trl"]["tokens_per_s"], 2)
            print(stage, json.dumps(r), flush=True)
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
