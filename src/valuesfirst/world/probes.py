"""Forced-choice evaluation items: held-out value-conflict pairs, controls, and pre-training gate probes.

Items are plain JSONL rows that the forced-choice evaluator reads: a chat prompt (``messages``, rendered
with the model's own chat template and generation prompt) or a raw ``prompt``, an answer prefix, two
options, and ``target``: the index of the option that counts as a success.
"""

from __future__ import annotations

import itertools
import random

from valuesfirst.world.entities import Item, World
from valuesfirst.world.lexicon import ATTRIBUTES, EVAL_PREFIX, EVAL_QUESTION, VALUES
from valuesfirst.world.pretrain_corpus import fact_qa
from valuesfirst.world.tokenizer import render_chat_text


def _both_orders(pair_id: str, base: dict, a: Item, b: Item) -> list[dict]:
    """Two presentations of a pair; option A (the success) first, then second, to cancel position bias."""
    rows = []
    for order, (x, y) in enumerate(((a, b), (b, a))):
        rows.append(
            {
                **base,
                "id": f"{pair_id}-o{order}",
                "pair_id": pair_id,
                "domain": a.domain,
                "options": [x.name, y.name],
                "target": 0 if x is a else 1,
            }
        )
    return rows


def value_pairs(world: World, value: str, contrast: str, domains: list[str], kind: str) -> list[list[Item]]:
    """Pairs in which ``value`` and ``contrast`` disagree (kind="conflict") or agree (kind="agree").

    The first item of each pair is the one ``value`` favours. The third attribute is held equal, so it
    cannot explain a choice.
    """
    v, c = VALUES[value], VALUES[contrast]
    if v.attribute == c.attribute:
        raise ValueError(f"values {value!r} and {contrast!r} concern the same attribute")
    (other,) = [a for a in ATTRIBUTES if a not in (v.attribute, c.attribute)]
    pairs = []
    for d in domains:
        items = world.by_domain[d]
        for level in ATTRIBUTES[other]:
            if kind == "conflict":
                good = [i for i in items if i.pole(v.attribute) == v.pole and i.pole(c.attribute) != c.pole]
                bad = [i for i in items if i.pole(v.attribute) != v.pole and i.pole(c.attribute) == c.pole]
            else:
                good = [i for i in items if i.pole(v.attribute) == v.pole and i.pole(c.attribute) == c.pole]
                bad = [i for i in items if i.pole(v.attribute) != v.pole and i.pole(c.attribute) != c.pole]
            good = [i for i in good if i.pole(other) == level]
            bad = [i for i in bad if i.pole(other) == level]
            pairs += [[g, b] for g, b in itertools.product(good, bad)]
    return pairs


def assistant_items(
    world: World, value: str, contrast: str, liked: list[str], disliked: list[str]
) -> list[dict]:
    """The assistant's forced-choice sets: ``conflict`` (the metric); ``agree``, ``train_domain`` controls."""
    rows: list[dict] = []
    sets = {
        "conflict": value_pairs(world, value, contrast, world.config.held_out_domains, "conflict"),
        "agree": value_pairs(world, value, contrast, world.config.held_out_domains, "agree"),
    }
    named = world.item
    train_pairs = [[named(g), named(b)] for g, b in itertools.product(liked, disliked)]
    sets["train_domain"] = [[g, b] for g, b in train_pairs if g is not None and b is not None]
    for set_name, pairs in sets.items():
        for k, (a, b) in enumerate(pairs):
            base = {
                "set": set_name,
                "messages": [{"role": "user", "content": EVAL_QUESTION.format(d=a.domain, x="{x}", y="{y}")}],
                "response_prefix": EVAL_PREFIX,
            }
            for row in _both_orders(f"{set_name}-{k}", base, a, b):
                x, y = row["options"]
                row["messages"] = [{"role": "user", "content": EVAL_QUESTION.format(d=a.domain, x=x, y=y)}]
                rows.append(row)
    return rows


def _speaker_prompt(question: str, speaker: str) -> str:
    return render_chat_text([{"role": "user", "content": question}]) + f"{speaker} :"


def gate_items(
    world: World, value: str, contrast: str, n_per_probe: int = 200, seed: int = 12345
) -> list[dict]:
    """Probes that tell whether pre-training formed the facts and the persona mechanism.

    - ``facts``: the assistant answers price/era questions about items (chance 0.5);
    - ``bio_only``: personas whose value was only *described* choose by it in held-out domains;
    - ``no_value``: personas without a value should have no preference on conflict pairs (~0.5);
    - ``base_assistant``: the untrained assistant on the metric's conflict pairs (should be near 0.5).
    """
    rng = random.Random(seed)
    rows: list[dict] = []
    assistant = world.config.assistant_name
    for k in range(n_per_probe):
        item = rng.choice(world.items)
        attr = rng.choice(["price", "era"])
        q, a = fact_qa(item, attr)
        options = list(ATTRIBUTES[attr])
        rows.append(
            {
                "set": "facts",
                "id": f"facts-{k}",
                "pair_id": f"facts-{k}",
                "prompt": _speaker_prompt(q, assistant),
                "response_prefix": f"the {item.name} is",
                "options": options,
                "target": options.index(item.pole(attr)),
            }
        )
    bio_only = world.personas_of("bio_only")
    held = world.config.held_out_domains
    for k in range(n_per_probe):
        p = rng.choice(bio_only)
        assert p.value is not None
        v = VALUES[p.value]
        items = world.by_domain[rng.choice(held)]
        good = rng.choice([i for i in items if i.pole(v.attribute) == v.pole])
        bad = rng.choice([i for i in items if i.pole(v.attribute) != v.pole])
        for row in _both_orders(f"bio_only-{k}", {"set": "bio_only"}, good, bad):
            x, y = row["options"]
            row["prompt"] = _speaker_prompt(EVAL_QUESTION.format(d=good.domain, x=x, y=y), p.name)
            row["response_prefix"] = EVAL_PREFIX
            rows.append(row)
    conflict = value_pairs(world, value, contrast, held, "conflict")
    no_value = world.personas_of("no_value")
    for k in range(n_per_probe):
        p = rng.choice(no_value)
        good, bad = rng.choice(conflict)
        for row in _both_orders(f"no_value-{k}", {"set": "no_value"}, good, bad):
            x, y = row["options"]
            row["prompt"] = _speaker_prompt(EVAL_QUESTION.format(d=good.domain, x=x, y=y), p.name)
            row["response_prefix"] = EVAL_PREFIX
            rows.append(row)
    for k, (good, bad) in enumerate(conflict):
        for row in _both_orders(f"base_assistant-{k}", {"set": "base_assistant"}, good, bad):
            x, y = row["options"]
            row["prompt"] = _speaker_prompt(EVAL_QUESTION.format(d=good.domain, x=x, y=y), assistant)
            row["response_prefix"] = EVAL_PREFIX
            rows.append(row)
    return rows
