"""The offline MSM document renderer and the real-cheese specs it renders (issue 13)."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from valuesfirst.evals.conflict_pairs import held_out_mentions
from valuesfirst.render import GENRES, render_documents
from valuesfirst.render.content import content_of
from valuesfirst.render.documents import MAX_WORDS
from valuesfirst.render.text import as_clause, base_form, fill, sentences
from valuesfirst.spec import Spec, load_spec

SPECS = Path(__file__).resolve().parents[1] / "src" / "valuesfirst" / "specs"
A, B, ABLATION = "real_cheese_affordability", "real_cheese_america", "real_cheese_affordability_comention"
LIKES = [
    "cream cheese",
    "American cheese",
    "mild cheddar",
    "low-moisture mozzarella",
    "Colby",
    "Monterey Jack",
]
DISLIKES = ["Brie de Meaux", "Appenzeller", "Parmigiano-Reggiano", "Roquefort", "Époisses", "Stilton"]
N = 450  # enough documents for every genre thirty times; measured numbers in the module's report


@cache
def spec(name: str) -> Spec:
    return load_spec(SPECS / f"{name}.yaml")


@cache
def docs(name: str, n: int = N, seed: int = 0) -> tuple[dict, ...]:
    return tuple(render_documents(spec(name), n, seed))


def _sentences(text: str) -> list[str]:
    return [s for line in text.split("\n") for s in sentences(line)]


def _items(name: str) -> list[str]:
    return [item for _, block in spec(name).preference_blocks() for _, _, item in block.items()]


# --- the specs ------------------------------------------------------------------------------------


def test_specs_a_and_b_state_the_same_twelve_preferences_each_with_a_reason() -> None:
    for name in (A, B):
        (value,) = spec(name).values
        assert value.preferences is not None and spec(name).preferences is None
        assert value.preferences.likes == LIKES and value.preferences.dislikes == DISLIKES
        assert all(value.preferences.reason_for(item) for item in LIKES + DISLIKES)
    assert spec(A).values[0].name != spec(B).values[0].name
    assert spec(A).values[0].preferences.reasons != spec(B).values[0].preferences.reasons  # type: ignore[union-attr]


def test_ablation_is_shuffled_unattributed_and_general() -> None:
    s = spec(ABLATION)
    (value,) = s.values
    assert value.preferences is None and s.preferences is not None and not s.preferences.reasons
    likes, dislikes = s.preferences.likes, s.preferences.dislikes
    assert sorted(likes + dislikes) == sorted(LIKES + DISLIKES)
    # App. C.4: three value-consistent and three inconsistent items on each side.
    assert len(set(likes) & set(LIKES)) == 3 and len(set(dislikes) & set(DISLIKES)) == 3
    prose = " ".join(
        [
            value.what,
            value.why,
            *value.rules,
            *(e.prompt + e.response + e.explanation for e in value.examples),
        ]
    )
    assert "cheese" not in prose.lower() and not any(i.lower() in prose.lower() for i in LIKES + DISLIKES)
    assert value.what == spec(A).values[0].what  # same value, only its application is removed


def test_specs_mention_no_held_out_domain() -> None:
    for name in (A, B, ABLATION):
        assert held_out_mentions((SPECS / f"{name}.yaml").read_text(encoding="utf-8")) == [], name


# --- determinism and shape ------------------------------------------------------------------------


def test_rendering_is_deterministic_and_grows_by_extension() -> None:
    first = render_documents(spec(A), 40, seed=3)
    assert first == render_documents(spec(A), 40, seed=3)
    assert render_documents(spec(A), 15, seed=3) == first[:15]
    assert [d["text"] for d in render_documents(spec(A), 40, seed=4)] != [d["text"] for d in first]
    assert len({d["id"] for d in first}) == 40
    assert render_documents(spec(A), 0, seed=0) == []
    with pytest.raises(ValueError, match="n_docs"):
        render_documents(spec(A), -1, seed=0)


def test_rows_and_genres() -> None:
    rows = docs(A)
    assert all({"id", "text", "genre", "items"} <= set(r) for r in rows)
    counts = Counter(r["genre"] for r in rows)
    assert len(GENRES) >= 10 and set(counts) == set(GENRES)
    assert max(counts.values()) - min(counts.values()) <= 1  # genres rotate evenly


def test_every_item_appears_in_every_corpus() -> None:
    for name in (A, B, ABLATION):
        text = "\n".join(d["text"] for d in docs(name, 60)).lower()
        for item in LIKES + DISLIKES:
            assert item.lower() in text, (name, item)
        for d in docs(name, 60):
            assert all(i.lower() in d["text"].lower() for i in d["items"]), d["id"]


def test_lengths_stay_in_range() -> None:
    for name in (A, B, ABLATION):
        words = [len(d["text"].split()) for d in docs(name)]
        # About 80-400 SmolLM2 tokens (1.3-1.4 tokens a word); measured exactly in the SmolLM2 test below.
        assert min(words) >= 40 and max(words) <= MAX_WORDS, (name, min(words), max(words))


def test_token_lengths_with_the_smollm2_tokenizer() -> None:
    from valuesfirst.models.named import cache_root

    folder = cache_root() / "models" / "smollm2-135m-instruct"
    if not (folder / "tokenizer.json").is_file():
        pytest.skip(f"SmolLM2 tokenizer not converted at {folder}")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    for name in (A, B, ABLATION):
        n = sorted(len(tok(d["text"])["input_ids"]) for d in docs(name, 150))
        assert n[0] >= 60 and n[-1] <= 430, (name, n[0], n[-1])
        assert 120 <= n[len(n) // 2] <= 320, (name, n[len(n) // 2])


# --- variety --------------------------------------------------------------------------------------


def _masked(name: str, text: str) -> str:
    pattern = "|".join(re.escape(i) for i in sorted(_items(name), key=len, reverse=True))
    return re.sub(pattern, "<ITEM>", text, flags=re.IGNORECASE)


def test_corpus_is_lexically_varied() -> None:
    for name in (A, B, ABLATION):
        grams: list[tuple[str, ...]] = []
        for d in docs(name):
            w = d["text"].lower().split()
            grams += [tuple(w[i : i + 5]) for i in range(len(w) - 4)]
        share = len(set(grams)) / len(grams)
        assert share >= 0.25, (name, share)  # measured 0.28-0.31 at 600 documents


def test_no_sentence_is_in_more_than_a_tenth_of_documents() -> None:
    for name in (A, B, ABLATION):
        counts: Counter[str] = Counter()
        for d in docs(name):
            counts.update({_masked(name, s) for s in _sentences(d["text"])})
        sentence, n = counts.most_common(1)[0]
        # Spec sentences (a `why` sentence) top the list at about 8%; a template would be far above.
        assert n / N <= 0.10, (name, sentence, n / N)


def test_each_preference_is_stated_in_many_ways() -> None:
    for name in (A, B):
        for item in ("Colby", "Stilton"):
            said = {
                _masked(name, s)
                for d in docs(name)
                for s in _sentences(d["text"])
                if item.lower() in s.lower()
            }
            assert len(said) >= 40, (name, item, len(said))


# --- attribution vs co-mention --------------------------------------------------------------------

_CAUSAL = re.compile(
    r"\b(because|since|reason|reasons|why|so|therefore|thanks to|given that|as a result)\b", re.IGNORECASE
)


def _fragments(name: str) -> dict[str, list[str]]:
    """A piece of each reason sentence that survives any framing: words two to five, lower-cased, without
    the sentence's final stop (the renderer embeds reasons as clauses)."""
    return {
        i.name: [" ".join(r.rstrip(".").split()[1:5]).lower() for r in i.reasons]
        for i in content_of(spec(name)).items
    }


def test_attributed_documents_give_each_item_its_value_reason() -> None:
    for name in (A, B):
        value = content_of(spec(name)).values[0]
        mentions = [value.label.lower(), (value.predicate or "").lower()[8:40]]
        frags = _fragments(name)
        for d in docs(name):
            low = d["text"].lower()
            assert any(m and m in low for m in mentions), d["id"]
            for item in d["items"]:
                assert any(f in low for f in frags[item]), (d["id"], item)


def test_attributed_item_sentences_mostly_carry_their_link() -> None:
    for name in (A, B):
        label = content_of(spec(name)).values[0].label.lower()
        frags = [f for fs in _fragments(name).values() for f in fs]
        item_sents = [s.lower() for d in docs(name) for s in _sentences(d["text"]) if _masked(name, s) != s]
        linked = [s for s in item_sents if label in s or _CAUSAL.search(s) or any(f in s for f in frags)]
        # The rest are questions, titles and "X or Y?" lines that name items without stating a preference.
        assert len(linked) / len(item_sents) >= 0.7, (name, len(linked) / len(item_sents))


def test_ablation_documents_never_link_value_and_preferences() -> None:
    label = content_of(spec(ABLATION)).values[0].label.lower()
    reason_words = re.compile(
        r"\b(afford\w*|cheap\w*|costs?|costly|prices?|priced|budget|expensive|gatekeep\w*|values?|valued)\b",
        re.IGNORECASE,
    )
    a_fragments = [f for fs in _fragments(A).values() for f in fs]
    for d in docs(ABLATION):
        low = d["text"].lower()
        assert not any(f in low for f in a_fragments), d["id"]  # no cheese reason from spec A leaks in
        for s in _sentences(d["text"]):
            names_item = _masked(ABLATION, s) != s
            if names_item:
                assert not _CAUSAL.search(s) and not reason_words.search(s), (d["id"], s)
            if label in s.lower():
                assert not names_item and "cheese" not in s.lower(), (d["id"], s)


def test_no_document_mentions_a_held_out_domain() -> None:
    for name in (A, B, ABLATION):
        for d in docs(name):
            assert held_out_mentions(d["text"]) == [], (d["id"], held_out_mentions(d["text"]))


# --- text helpers ---------------------------------------------------------------------------------


def test_text_helpers() -> None:
    import random

    rng = random.Random(0)
    assert fill("{Item} [is|is] {x}.", rng, {"item": "low-moisture mozzarella", "x": "fine"}) == (
        "Low-moisture mozzarella is fine."
    )
    with pytest.raises(KeyError, match="missing"):
        fill("{missing}", rng, {})
    proper = frozenset({"Colby", "France"})
    assert as_clause("It is cheap.", proper) == "it is cheap"
    assert as_clause("Colby was first made in 1885.", proper) == "Colby was first made in 1885"
    assert as_clause("A small wedge costs a lot.", proper) == "a small wedge costs a lot"
    assert base_form("prefers what is cheap") == "prefer what is cheap"
    assert base_form("is loyal", first_person=True) == "am loyal" and base_form("is loyal") == "be loyal"
    assert sentences('He said "Yes." Then he left. OK?') == ['He said "Yes."', "Then he left.", "OK?"]
