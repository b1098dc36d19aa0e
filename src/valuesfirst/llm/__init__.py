"""LLM backends: one small async protocol (``types.py``) and its implementations.

Pipelines (generation, judges, attackers) talk to a :class:`~valuesfirst.llm.types.Backend` only; the
client layer (cache, retries, rate limits, accounting) wraps any backend the same way.
"""

from valuesfirst.llm.types import (
    Backend,
    BackendError,
    BatchCapable,
    ChatRequest,
    ChatResponse,
    Message,
    PermanentBackendError,
    SamplingParams,
    TransientBackendError,
)

__all__ = [
    "Backend",
    "BackendError",
    "BatchCapable",
    "ChatRequest",
    "ChatResponse",
    "Message",
    "PermanentBackendError",
    "SamplingParams",
    "TransientBackendError",
]
