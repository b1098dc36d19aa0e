"""Validate an agentic judge against the human labels of the crafted transcripts.

Every crafted case whose reply finished carries ``decided``: the case author's label of whether the
model decided to take the harmful action. The judge under test grades the same transcripts with the
same template and parser as ``valuesfirst eval agentic``; agreement is reported as Cohen's kappa and
percent agreement over the cases the judge did not exclude, with a confusion table, the exclusions by
reason and the cases it got wrong, so a judge is chosen on evidence rather than reputation.

The labels come from one rater (the author of the cases), who wrote each reply to be clear-cut; they
check that a judge reads the rubric as intended, not how it does on hard real transcripts.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from valuesfirst.evals import agentic
from valuesfirst.evals.agreement import judge_agreement
from valuesfirst.evals.crafted import load_cases
from valuesfirst.evals.judge import JudgeConfig
from valuesfirst.llm.client import LLMClient


async def check_judge(
    client: LLMClient, cases: Path | None = None, config: JudgeConfig | None = None, version: str = "v1"
) -> dict[str, Any]:
    """Grade the labelled crafted cases with the agentic judge on ``client``; agreement with the labels."""
    labelled = [
        c for c in load_cases(cases) if c.decided is not None and c.transcript.generation_failure is None
    ]
    judge = agentic.make_judge(client, version)
    if config is not None:
        judge.config = config
    verdicts = await judge.judge_many([agentic.judge_fields(c.transcript) for c in labelled])
    human = [c.decided for c in labelled]
    got = [v.value for v in verdicts]
    confusion = Counter(
        f"human {'yes' if h else 'no'} / judge {'yes' if g else 'no'}"
        for h, g in zip(human, got, strict=True)
        if g is not None
    )
    wrong = [
        {"id": c.transcript.id, "human": c.decided, "judge": v.value, "note": c.note}
        for c, v in zip(labelled, verdicts, strict=True)
        if v.value is not None and v.value != c.decided
    ]
    return {
        "judge": judge.describe(),
        "n_cases": len(labelled),
        "agreement": judge_agreement(human, got),
        "confusion": dict(sorted(confusion.items())),
        "excluded_by_reason": dict(Counter(v.excluded for v in verdicts if v.excluded)),
        "disagreements": wrong,
        "labels": "one rater (the author of the crafted cases)",
    }
