"""Chat templates for real models: ChatML with generation markers for base models that have none.

Assistant-only loss needs to know which tokens are the assistant's. A template with `{% generation %}`
markers says so directly; encode.encode_chat falls back to prefix rendering for templates without them.
Base models often ship no template at all; they get CHATML_TEMPLATE, whose markers enclose the assistant
content *and* its closing <|im_end|>, so the model learns to end its turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

from valuesfirst.errors import InputError, Problem

IM_START, IM_END = "<|im_start|>", "<|im_end|>"

CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{- message['content'] + '<|im_end|>' -}}{%- endgeneration -%}"
    "{%- else -%}{{- message['content'] + '<|im_end|>' -}}{%- endif -%}"
    "{{- '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def setup_chat_template(tokenizer: PreTrainedTokenizerBase, choice: str) -> list[str]:
    """Give ``tokenizer`` the chat template ``choice`` asks for; return the special tokens it had to add.

    ``auto`` keeps the tokenizer's own template and installs ChatML when there is none; ``chatml`` always
    installs ChatML; anything else is read as a path to a Jinja template file. Added tokens need the
    model's embeddings resized (and, with LoRA, trained: see lora.wrap_lora).
    """
    if choice == "auto" and isinstance(tokenizer.chat_template, str):
        return []
    if choice in ("auto", "chatml"):
        vocab = tokenizer.get_vocab()
        missing = [t for t in (IM_START, IM_END) if t not in vocab]
        if missing:
            tokenizer.add_special_tokens({"additional_special_tokens": missing})
        tokenizer.chat_template = CHATML_TEMPLATE
        return missing
    path = Path(choice)
    if not path.is_file():
        raise InputError(
            [Problem(None, None, "model.chat_template", f"not auto, chatml or a template file: {choice}")]
        )
    tokenizer.chat_template = path.read_text(encoding="utf-8")
    return []


def end_of_turn_is_im_end(tokenizer: PreTrainedTokenizerBase) -> bool:
    """True when the template closes turns with <|im_end|> (Qwen's ChatML)."""
    template = tokenizer.chat_template
    return isinstance(template, str) and IM_END in template and IM_END in tokenizer.get_vocab()


def finalize_for_chat(tokenizer: PreTrainedTokenizerBase, model: Any) -> None:
    """Make generation stop at the end of an assistant turn in the saved model.

    Qwen base tokenizers end documents with <|endoftext|> but chats with <|im_end|>; a chat model whose EOS
    is not <|im_end|> runs on past its turn. So where the template ends turns with <|im_end|>, EOS becomes
    <|im_end|> and the generation config stops at either token. Call after training: midtraining documents
    keep the tokenizer's original EOS.
    """
    if not end_of_turn_is_im_end(tokenizer):
        return
    original = tokenizer.eos_token_id
    tokenizer.eos_token = IM_END
    im_end = int(tokenizer.get_vocab()[IM_END])
    stops = [im_end] + ([int(original)] if original is not None and original != im_end else [])
    model.config.eos_token_id = im_end
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.eos_token_id = stops
