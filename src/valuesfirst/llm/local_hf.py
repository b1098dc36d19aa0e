"""A local transformers model as a backend: the model folder's chat template, greedy or sampled decoding.

One model, one ``generate`` at a time: the lock keeps two requests from interleaving on the same weights
(and from fighting over the global torch RNG that seeded sampling uses); generation runs in a worker thread
so the event loop keeps serving other backends and the progress bar meanwhile. Loading happens on the first
call, so building the backend (e.g. for ``--preview``) costs nothing but a path check.

Weights load as safetensors only and remote code stays off unless the user turns it on. ``PATH`` may be a
named shipped model (``local:smollm2-135m-instruct``), converted once into the user cache.

A prompt longer than the model's context cannot be answered: :meth:`LocalHFBackend.check_prompts` says
which before any generation starts, and a request that still gets here fails with that reason (counted,
never answered with garbage). The completion budget is cut to what the context leaves, and an answer cut
by it finishes with ``length``.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError
from valuesfirst.llm.types import ChatRequest, ChatResponse, FinishReason, PermanentBackendError


def _fingerprint(path: Path) -> str:
    """Cheap identity of a checkpoint's weights (names, sizes, mtimes): a retrained model at the same path
    gets a new cache key instead of stale cached answers."""
    h = hashlib.sha256()
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("config.json")):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:12]


def _stop_on_text(tokenizer: Any, prompt_len: int, stops: tuple[str, ...]) -> Any:
    """Stop when the decoded continuation contains a stop string.

    transformers' own ``stop_strings`` needs a tokenizer whose vocabulary it can re-segment and fails on
    word-level tokenizers; decoding the continuation each step is slower but works for every tokenizer.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _StopOnText(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = [
                any(s in tokenizer.decode(row[prompt_len:], skip_special_tokens=True) for s in stops)
                for row in input_ids.tolist()
            ]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_StopOnText()])


class LocalHFBackend:
    """A model folder (config.json, *.safetensors, tokenizer with a chat template) run on this machine.

    path: the folder; a missing folder is an InputError naming it.
    trust_remote_code: off by default; only for architectures transformers does not ship.
    device: "cpu" (default) or e.g. "cuda".
    ``model`` is ``local:<path>@<weights fingerprint>`` so the cache never serves a retrained model's
    predecessor's answers.
    """

    name = "local"

    def __init__(self, path: str | Path, *, trust_remote_code: bool = False, device: str = "cpu") -> None:
        from valuesfirst.models.named import NAMED_MODELS

        if str(path) in NAMED_MODELS:
            from valuesfirst.models.refs import resolve_model_ref

            path = resolve_model_ref(str(path), field="backend")
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise InputError.single(f"local model path {str(path)!r} does not exist", file=str(path))
        if not (self.path / "config.json").exists():
            raise InputError.single("not a model folder (no config.json)", file=str(path))
        self.model = f"local:{self.path}@{_fingerprint(self.path)}"
        self.trust_remote_code = trust_remote_code
        self.device = device
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, list[int]] | None = None
        self.context: int | None = None

    def _load(self) -> tuple[Any, Any, list[int]]:
        if self._loaded is None:
            from valuesfirst.models.load import load_model
            from valuesfirst.models.tokens import eot_token_id

            loaded, tokenizer = load_model(self.path, trust_remote_code=self.trust_remote_code)
            model: Any = loaded  # transformers' typing of .to() rejects a device string
            model.to(self.device).eval()
            if not getattr(tokenizer, "chat_template", None):
                raise PermanentBackendError(f"{self.path}: tokenizer has no chat template")
            stops = {eot_token_id(tokenizer)}
            if tokenizer.eos_token_id is not None:
                stops.add(int(tokenizer.eos_token_id))
            from valuesfirst.models.context import context_length

            self.context = context_length(model.config, tokenizer)
            self._loaded = (model, tokenizer, sorted(stops))
        return self._loaded

    def _messages(self, request: ChatRequest) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": request.system}] if request.system is not None else []
        return messages + [{"role": m.role, "content": m.content} for m in request.messages]

    def prompt_tokens(self, request: ChatRequest) -> int:
        _, tokenizer, _ = self._load()
        messages = self._messages(request)
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return len(ids["input_ids"] if hasattr(ids, "keys") else ids)

    def check_prompts(self, requests: list[ChatRequest], ids: list[str] | None = None) -> None:
        """InputError naming every prompt that leaves no room for an answer in the model's context."""
        from valuesfirst.models.context import check_lengths

        with self._lock:
            self._load()
        lengths = [(ids[k] if ids else str(k), self.prompt_tokens(r) + 1) for k, r in enumerate(requests)]
        check_lengths(lengths, self.context, f"{self.path.name}: prompt", field="model")

    def _generate(self, request: ChatRequest) -> ChatResponse:
        import torch

        with self._lock:
            model, tokenizer, stop_ids = self._load()
            enc = tokenizer.apply_chat_template(
                self._messages(request), add_generation_prompt=True, return_dict=True, return_tensors="pt"
            )
            input_ids = enc["input_ids"].to(self.device)
            p = request.params
            n_prompt = int(input_ids.shape[1])
            budget = p.max_tokens if self.context is None else min(p.max_tokens, self.context - n_prompt)
            if budget < 1:
                raise PermanentBackendError(
                    f"prompt of {n_prompt} tokens leaves no room in {self.path.name}'s context of "
                    f"{self.context} tokens"
                )
            kwargs: dict[str, Any] = {
                "max_new_tokens": budget,
                "eos_token_id": stop_ids,
                "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0],
            }
            if p.temperature > 0:
                kwargs.update(do_sample=True, temperature=p.temperature, top_p=p.top_p or 1.0)
                if p.seed is not None:
                    torch.manual_seed(p.seed)  # global RNG: safe under the lock
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)  # greedy
            if p.stop:
                kwargs["stopping_criteria"] = _stop_on_text(tokenizer, input_ids.shape[1], p.stop)
            with torch.inference_mode():
                out = model.generate(
                    input_ids, attention_mask=enc["attention_mask"].to(self.device), **kwargs
                )
            new = out[0, input_ids.shape[1] :].tolist()
        ended = bool(new) and new[-1] in stop_ids
        body = new[:-1] if ended else new
        text = tokenizer.decode(body, skip_special_tokens=True)
        hit_stop = False
        for s in p.stop:
            if s in text:
                text, hit_stop = text[: text.index(s)], True
        finish: FinishReason = "stop" if ended or hit_stop or len(new) < budget else "length"
        return ChatResponse(
            text=text,
            finish_reason=finish,
            model=self.model,
            input_tokens=int(input_ids.shape[1]),
            output_tokens=len(new),
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await asyncio.to_thread(self._generate, request)

    async def aclose(self) -> None:
        self._loaded = None
