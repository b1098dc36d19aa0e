"""Token statistics of a generated dataset with the target model's tokenizer (a local folder), and a
length histogram PNG. Loading is offline and never runs remote code."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError
from valuesfirst.jsonl import write_json


def load_tokenizer(path: Path, trust_remote_code: bool = False) -> Any:
    """A tokenizer from a local folder; InputError naming the path when it cannot be loaded."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not Path(path).is_dir():
        raise InputError.single("tokenizer must be a local folder", field="--tokenizer", file=str(path))
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(
            str(path), local_files_only=True, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise InputError.single(
            f"cannot load tokenizer: {exc}", field="--tokenizer", file=str(path)
        ) from None


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    if not texts:
        return []
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [len(ids) for ids in encoded]


def stats(lengths: Sequence[int]) -> dict[str, Any]:
    import numpy as np

    if not lengths:
        return {"n": 0, "total": 0}
    arr = np.asarray(lengths)
    q = np.percentile(arr, [5, 25, 50, 75, 95]).tolist()
    return {
        "n": int(arr.size),
        "total": int(arr.sum()),
        "mean": float(arr.mean()),
        "min": int(arr.min()),
        "p5": q[0],
        "p25": q[1],
        "median": q[2],
        "p75": q[3],
        "p95": q[4],
        "max": int(arr.max()),
    }


def histogram(lengths: Sequence[int], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(list(lengths), bins=min(50, max(5, len(lengths) // 4)), color="#4C72B0")
    ax.set_xlabel("tokens per row")
    ax.set_ylabel("rows")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_token_stats(
    out_dir: Path, tokenizer_path: Path, texts: Sequence[str], title: str, trust_remote_code: bool = False
) -> dict[str, Any]:
    """Write ``token_stats.json`` and ``length_histogram.png`` into `out_dir`; return the stats."""
    tokenizer = load_tokenizer(tokenizer_path, trust_remote_code)
    lengths = count_tokens(tokenizer, texts)
    result = {"tokenizer": str(tokenizer_path), **stats(lengths)}
    write_json(out_dir / "token_stats.json", result)
    histogram(lengths, out_dir / "length_histogram.png", title)
    return result
