"""LoRA training throughput on SmolLM2-135M-Instruct (the shipped real model) on CPU: `valuesfirst train`
against TRL `SFTTrainer` + PEFT on the same model, adapter, data, batch and steps.

Both train LoRA r=64/alpha=128 on all seven projections (the paper's adapter), fp32, AdamW, lr 1e-4, 4 rows
of at most 512 tokens per optimizer step, on the same midtraining documents and AFT chats. TRL runs in
three settings: its default (no packing: one example per row, padded to the longest in the batch), packing
with its default best-fit-decreasing strategy (padding-free: the batch is flattened into one sequence with
per-example position ids), and "wrapped" packing (rows cut at max_length; examples attend to each other
across boundaries, so it is not a correct setting, shown because it is the fastest a user may pick).
Reported: non-pad tokens per second over each trainer's own training-loop time, and the non-pad share.

    OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/train_smollm2_lora_vs_trl.py
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from valuesfirst.models.named import ensure_named_model
from valuesfirst.train.run import run_training
from valuesfirst.train.tiny import write_toy_data
from valuesfirst.train.train_config import TrainConfig

SEQ_LEN, BATCH, STEPS, THREADS = 512, 4, 8, 2
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def ours(root: Path, data: dict[str, Path], stage: str, precision: str = "fp32") -> dict[str, Any]:
    cfg = TrainConfig.model_validate({
        "model": {"path": "smollm2-135m-instruct"}, "data": {stage: [str(data[stage])]},
        "ordering": f"{stage}_only", "output_dir": str(root / f"ours-{stage}-{precision}"),
        "recipe": {"lr": 1e-4, "max_steps": STEPS, "epochs": 100, "seq_len": SEQ_LEN, "batch_size": BATCH,
                   "grad_accum": 1, "threads": THREADS, "precision": precision},
        "report_to": "none", "log_every": STEPS, "resume": False, "save_merged": False,
    })  # fmt: skip
    run_training(cfg, log=lambda _: None)
    s = json.loads((cfg.output_dir / f"0-{stage}" / "summary.json").read_text())
    return {
        "tokens_per_s": s["tokens_per_s"],
        "nonpad_fraction": s["packing_efficiency"],
        "seconds": s["seconds"],
    }


def trl(root: Path, data: dict[str, Path], stage: str, setting: str) -> dict[str, Any]:
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    folder = ensure_named_model("smollm2-135m-instruct")
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="sdpa", dtype=torch.float32)
    dataset = load_dataset("json", data_files=str(data[stage]), split="train")
    packing = {"default": {}, "packed_bfd": {"packing": True}, "packed_wrapped": {"packing": True,
               "packing_strategy": "wrapped"}}[setting]  # fmt: skip
    args = SFTConfig(
        output_dir=str(root / f"trl-{stage}-{setting}"), max_steps=STEPS, per_device_train_batch_size=BATCH,
        learning_rate=1e-4, max_length=SEQ_LEN, logging_steps=STEPS, save_strategy="no", report_to=[],
        assistant_only_loss=False, use_cpu=True, bf16=False, dataloader_num_workers=0, seed=0,
        disable_tqdm=True, **packing,
    )  # fmt: skip
    peft = LoraConfig(r=64, lora_alpha=128, lora_dropout=0.0, target_modules=TARGETS, task_type="CAUSAL_LM")
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tok, peft_config=peft
    )
    real = slots = 0
    for i, batch in enumerate(trainer.get_train_dataloader()):
        if i >= STEPS:
            break
        if "attention_mask" in batch:
            real, slots = real + int(batch["attention_mask"].sum()), slots + batch["attention_mask"].numel()
        else:  # padding-free: one flattened sequence, every token real
            real, slots = real + batch["input_ids"].numel(), slots + batch["input_ids"].numel()
    seconds = float(trainer.train().metrics["train_runtime"])
    return {"tokens_per_s": round(real / seconds, 1), "nonpad_fraction": round(real / slots, 4),
            "seconds": round(seconds, 2)}  # fmt: skip


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(
            line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor()


def main() -> None:
    torch.set_num_threads(THREADS)
    print(json.dumps({"cpu": cpu_model(), "python": sys.version.split()[0], "torch": torch.__version__,
                      "date": time.strftime("%Y-%m-%d")}), flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_toy_data(root / "data", n_docs=600, n_chats=300)
        results: dict[str, Any] = {}
        for stage in ("msm", "aft"):
            r = {"valuesfirst": ours(root, data, stage)}
            print(stage, "valuesfirst", json.dumps(r["valuesfirst"]), flush=True)
            for setting in ("default", "packed_bfd", "packed_wrapped"):
                r[f"trl_{setting}"] = trl(root, data, stage, setting)
                print(stage, f"trl_{setting}", json.dumps(r[f"trl_{setting}"]), flush=True)
            best = max(v["tokens_per_s"] for k, v in r.items() if k in ("trl_default", "trl_packed_bfd"))
            r["ratio_vs_trl_default"] = round(
                r["valuesfirst"]["tokens_per_s"] / r["trl_default"]["tokens_per_s"], 2
            )
            r["ratio_vs_best_correct_trl"] = round(r["valuesfirst"]["tokens_per_s"] / best, 2)
            if "--bf16" in sys.argv:
                r["valuesfirst_bf16"] = ours(root, data, stage, "bf16")
            results[stage] = r
            print(stage, json.dumps(r), flush=True)
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
