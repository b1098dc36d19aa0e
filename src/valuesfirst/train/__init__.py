"""Training: tokenizers and chat templates, data collation (packing, assistant-only masks), and the trainers.

Modules:
    tokenizer     the embedded world's word-level tokenizer, its chat template, and end-of-turn lookup
    encode        documents and chats to token examples with their loss masks (assistant-only for chats)
    collate       examples packed into rows, padded batches, the summed loss, the packing-isolation check
    loop          the one optimisation loop (demo and real models; accelerate for DDP/FSDP/DeepSpeed)
    model         tiny Llama/Qwen3 models from config; safetensors save/load
    pretrain, stage_train, mixture   the embedded demo's pre-training and stages
    train_config  `valuesfirst train`'s TrainConfig (the paper's recipe as defaults)
    chat          ChatML with generation markers for base models; <|im_end|> as EOS
    data          JSONL checks (file/line/field), stage examples, IT mixing, CoT stripping, rows
    lora          PEFT LoRA: target discovery/validation, adapters, merging
    setup         base model loading, each stage's starting model, stage outputs
    schedule      per-rank batch plan (pure function of seed and step: exact resume)
    checkpoint    resumable checkpoints (trainable weights, optimizer, RNG)
    metrics, step_hook   tokens/s, MFU, metrics.jsonl/TensorBoard/W&B; logging and checkpoints per step
    run           run_training: the stages of an ordering
    tiny          tiny random Qwen/Llama-style model folders with a local BPE tokenizer (tests, benchmarks)
"""
