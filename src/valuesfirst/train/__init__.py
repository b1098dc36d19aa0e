"""Training: collation, the one recipe, the one stage trainer, and the runs around it.

Modules:
    tokenizer     the embedded world's word-level tokenizer and its chat template
    encode        documents and chats to token examples with their loss masks (assistant-only for chats)
    collate       examples packed into rows, padded batches, the summed loss, the packing-isolation check
    loop          the one optimisation loop (accelerate for DDP/FSDP/DeepSpeed)
    recipe        Recipe: every MSM/AFT stage's settings (presets: paper, tiny_world), LoRA settings
    stage         train_stage: one stage on any causal LM (experiments and `valuesfirst train`)
    lineage       where a stage's weights come from (base + adapters), starting models, tokenizers
    outputs       a stage's adapter/, model/ and lineage.json
    mixture       rows drawn from several sources by document count (a recipe's `mix`)
    data          JSONL checks (file/line/field), stage examples, IT mixing, CoT stripping, rows
    chat          ChatML with generation markers for base models; <|im_end|> as EOS
    lora          PEFT LoRA: target discovery/validation, adapters, digests
    schedule      per-rank batch plan (pure function of seed and step: exact resume)
    checkpoint    resumable checkpoints (trainable weights, optimizer, RNG)
    metrics, step_hook   tokens/s, MFU, metrics.jsonl/TensorBoard/W&B; logging and checkpoints per step
    sharded       FSDP/DeepSpeed state gathering and backend checks
    train_config  `valuesfirst train`'s TrainConfig (model, data files, ordering, recipe)
    run           run_training: the stages of an ordering, each through stage.train_stage
    pretrain      pre-training the embedded world's model from scratch, gated on probes
    tiny          tiny random Qwen/Llama-style model folders with a local BPE tokenizer (tests, benchmarks)
"""
