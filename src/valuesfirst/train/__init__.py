"""Training: tokenizers and chat templates, data collation (packing, assistant-only masks), and the trainers.

Modules:
    tokenizer  the embedded world's word-level tokenizer, its chat template, and end-of-turn lookup
    collate    documents and chats to token examples, packing into rows, batches, and the summed loss
"""
