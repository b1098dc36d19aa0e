"""GPU throughput and MFU of `valuesfirst train` on ~0.5B and ~1.5B Qwen2.5-shaped models built from config.

Not measured on this project's machines yet (see train_gpu_mfu.md). Random weights, the real vocabulary
size (151,936) and shapes of Qwen2.5-0.5B / 1.5B, bf16 mixed precision, packed 4,096-token rows of short
documents, LoRA (the paper's recipe) and full fine-tuning. MFU comes from the trainer's own logging
(metrics.jsonl), which knows the peak of H100/H200/A100 and other listed GPUs.

    HF_HUB_OFFLINE=1 python benchmarks/train_gpu_mfu.py [--steps 20] [--sizes 0.5b 1.5b]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from valuesfirst.train.run import run_training
from valuesfirst.train.tiny import bpe_tokenizer, toy_sentences, write_toy_data
from valuesfirst.train.train_config import TrainConfig

SIZES = {  # Qwen2.5-0.5B and -1.5B shapes
    "0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                 intermediate_size=4864, tie_word_embeddings=True),
    "1.5b": dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                 intermediate_size=8960, tie_word_embeddings=True),
}  # fmt: skip


def build(folder: Path, size: str) -> Path:
    tok = bpe_tokenizer(toy_sentences(2000), "qwen", vocab_size=2000)  # ids < 2000 of the 151,936 rows
    config = Qwen2Config(vocab_size=151_936, max_position_embeddings=32_768, **SIZES[size])
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA GPU")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_toy_data(root / "data", n_docs=40_000, n_chats=1)
        for size in args.sizes:
            model = build(root / size, size)
            for finetune in ("lora", "full"):
                out = root / f"out-{size}-{finetune}"
                cfg = TrainConfig.model_validate({
                    "model": {"path": str(model), "attn_implementation": "sdpa"},
                    "data": {"msm": [str(data["msm"])]}, "ordering": "msm_only",
                    "recipe": {"finetune": finetune, "seq_len": 4096, "batch_size": 4, "grad_accum": 1,
                               "precision": "bf16", "max_steps": args.steps, "epochs": 100},
                    "output_dir": str(out), "save_merged": False,
                    "log_every": 5, "report_to": "none", "resume": False,
                })  # fmt: skip
                run_training(cfg)
                rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
                steady = rows[1:] or rows  # the first window includes compilation and warm-up
                results.append({
                    "size": size, "finetune": finetune, "gpu": torch.cuda.get_device_name(),
                    "tokens_per_s": sum(r["tokens_per_s"] for r in steady) / len(steady),
                    "mfu": (sum(r["mfu"] for r in steady) / len(steady)) if steady[0]["mfu"] else None,
                    "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1),
                })  # fmt: skip
                print(json.dumps(results[-1]), flush=True)
                torch.cuda.reset_peak_memory_stats()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
