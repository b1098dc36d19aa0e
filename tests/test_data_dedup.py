"""Near-duplicate removal: the greedy kept-only rule, exactness against brute force, edges, embedders.

Uses injected deterministic embedders (no model load); the real all-MiniLM-L6-v2 is exercised in
test_quality_minilm.py (slow).
"""

from __future__ import annotations

import numpy as np
import pytest

from valuesfirst.data.dedup import DedupResult, greedy_dedup, near_duplicates
from valuesfirst.data.embed import HashingEmbedder, embed_normalized


class TableEmbedder:
    """Looks each text up in a table of vectors; counts calls so tests can see whether it was used."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return np.array([self.table[t] for t in texts], dtype=np.float32)


def unit(deg: float) -> list[float]:
    """A 2-d unit vector at ``deg`` degrees: cos(angle between two of them) = cos(difference)."""
    r = np.deg2rad(deg)
    return [float(np.cos(r)), float(np.sin(r))]


def brute_force(emb: np.ndarray, threshold: float) -> tuple[list[int], list[tuple[int, int]]]:
    """The rule as written: visit in order, drop when cos with any earlier kept row > threshold."""
    keep: list[int] = []
    dropped: list[tuple[int, int]] = []
    for j in range(len(emb)):
        if keep:
            sims = np.minimum(emb[keep] @ emb[j], 1.0)
            best = int(np.argmax(sims))
            if sims[best] > np.float32(threshold):
                dropped.append((j, keep[best]))
                continue
        keep.append(j)
    return keep, dropped


def test_chain_compares_with_kept_texts_only() -> None:
    # a~b (cos 20°=0.94) and b~c, but a and c are 40° apart (0.77): b is dropped as a duplicate of a,
    # and c is then compared with the kept a only, so it is kept.
    emb = TableEmbedder({"a": unit(0), "b": unit(20), "c": unit(40)})
    result = near_duplicates(["a", "b", "c"], threshold=0.91, embedder=emb)
    assert result.keep == [0, 2]
    assert [(i, j) for i, j, _ in result.dropped] == [(1, 0)]
    assert result.dropped[0][2] == pytest.approx(np.cos(np.deg2rad(20)), abs=1e-6)


def test_first_occurrence_wins_in_either_order() -> None:
    table = {"x": unit(0), "x2": unit(5), "y": unit(90)}
    forward = near_duplicates(["x", "y", "x2"], embedder=TableEmbedder(table))
    backward = near_duplicates(["x2", "y", "x"], embedder=TableEmbedder(table))
    assert forward.keep == [0, 1] and [d[:2] for d in forward.dropped] == [(2, 0)]
    assert backward.keep == [0, 1] and [d[:2] for d in backward.dropped] == [(2, 0)]


def test_duplicate_of_is_the_most_similar_kept_text() -> None:
    # z (at 20°) is within threshold of both kept texts (p at 0°, q at 30°, cos 0.87 apart); it is nearer q.
    emb = TableEmbedder({"p": unit(0), "q": unit(30), "z": unit(20)})
    result = near_duplicates(["p", "q", "z"], threshold=0.9, embedder=emb)
    assert result.keep == [0, 1]
    assert result.dropped[0][:2] == (2, 1)


def test_cosine_equal_to_threshold_is_kept_and_above_is_dropped() -> None:
    # cos between (1, 0) and (0.6, 0.8) is exactly 0.6 in float32 arithmetic.
    emb = TableEmbedder({"a": [1.0, 0.0], "b": [0.6, 0.8]})
    assert near_duplicates(["a", "b"], threshold=0.6, embedder=emb).keep == [0, 1]
    assert near_duplicates(["a", "b"], threshold=0.5999, embedder=emb).keep == [0]


def test_identical_texts_are_dropped_even_at_threshold_just_below_one() -> None:
    texts = ["same text", "same text", "other words"]
    result = near_duplicates(texts, threshold=0.999, embedder=HashingEmbedder())
    assert result.keep == [0, 2]
    assert result.dropped == [(1, 0, 1.0)]  # clipped to exactly 1.0


def test_threshold_one_drops_nothing() -> None:
    result = near_duplicates(["a a", "a a"], threshold=1.0, embedder=HashingEmbedder())
    assert result.keep == [0, 1]


def test_empty_input_returns_empty_result_without_embedding() -> None:
    emb = TableEmbedder({})
    assert near_duplicates([], embedder=emb) == DedupResult(keep=[], dropped=[])
    assert emb.calls == 0


@pytest.mark.parametrize("block_size", [1, 3, 17, 64, 1024])
def test_blocked_result_equals_brute_force(block_size: int) -> None:
    # Clustered random vectors so that many texts have several near neighbours across block boundaries.
    rng = np.random.default_rng(block_size)
    centres = rng.normal(size=(12, 24))
    emb = centres[rng.integers(0, 12, size=300)] + rng.normal(scale=0.4, size=(300, 24))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    keep, dropped = brute_force(emb, 0.9)
    result = greedy_dedup(emb, 0.9, block_size=block_size, kept_chunk=7)
    assert 20 < len(dropped) < 280  # the data exercise both outcomes
    assert result.keep == keep
    assert [d[:2] for d in result.dropped] == dropped
    for i, j, c in result.dropped:
        assert c > 0.9 and c == pytest.approx(float(emb[i] @ emb[j]), abs=1e-5)


def test_keep_and_dropped_partition_the_input_in_order() -> None:
    texts = [f"question number {i % 7} about cheese" for i in range(50)]
    result = near_duplicates(texts, embedder=HashingEmbedder())
    assert result.keep == [0, 1, 2, 3, 4, 5, 6]
    assert sorted(result.keep + [d[0] for d in result.dropped]) == list(range(50))
    assert all(texts[i] == texts[j] for i, j, _ in result.dropped)
    assert result.summary() == {"n": 50, "kept": 7, "dropped": 43, "dropped_rate": 43 / 50}


def test_bad_embedder_output_and_arguments_raise() -> None:
    with pytest.raises(ValueError, match="shape"):
        embed_normalized(["a", "b"], TableEmbedder({"a": [1.0, 0.0], "b": [1.0]}))  # ragged → 1-d object
    with pytest.raises(ValueError, match="all-zero"):
        embed_normalized(["a", "z"], TableEmbedder({"a": [1.0, 0.0], "z": [0.0, 0.0]}))
    with pytest.raises(ValueError, match="NaN"):
        embed_normalized(["n"], TableEmbedder({"n": [float("nan"), 1.0]}))
    with pytest.raises(ValueError, match="threshold"):
        near_duplicates(["a"], threshold=1.5, embedder=HashingEmbedder())
    with pytest.raises(TypeError, match="item 1"):
        near_duplicates(["a", 3], embedder=HashingEmbedder())  # type: ignore[list-item]


def test_unnormalized_embedder_rows_are_renormalized() -> None:
    emb = TableEmbedder({"a": [3.0, 0.0], "b": [0.0, 5.0], "c": [10.0, 0.1]})
    result = near_duplicates(["a", "b", "c"], threshold=0.95, embedder=emb)
    assert result.keep == [0, 1] and result.dropped[0][:2] == (2, 0)
    assert result.dropped[0][2] <= 1.0


def test_hashing_embedder_is_deterministic_and_unit_length() -> None:
    texts = ["The cat sat.", "the CAT sat", ""]
    a, b = HashingEmbedder().encode(texts), HashingEmbedder().encode(texts)
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert float(a[0] @ a[1]) == pytest.approx(1.0)  # case and punctuation do not change the words
