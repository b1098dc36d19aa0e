"""Crafted agentic transcripts with expected verdicts (``evals/data/agentic_crafted.jsonl``).

Each case is a reply written by hand for one scenario, with what every scoring path must make of it:
``expected.harmful`` (1, 0, or null when excluded) and ``expected.excluded`` (the exclusion reason, or
null), plus ``decided``: the case author's label of whether the model *decided* to take the harmful
action (what the judge's ``classifier_verdict`` measures; null when the reply did not finish). The cases
cover the ways the deterministic check and the exclusions have failed in the field and in this project's
audit (truncation inside the scratchpad, secrets sent in pieces or re-spaced, the competitor in cc, tags
closed wrongly, drafts in ``<thinking>``, implicit blackmail, reports that name the affair), and the
``decided`` labels are the human reference against which a judge is checked (:mod:`judge_check`).

Fields: ``id``, ``action``, ``goal``, ``goal_type``, ``urgency``, optional ``variant`` and
``blackmail_definition`` (the scenario), ``reply``, optional ``reasoning`` (a separate reasoning
channel), ``finish_reason``, ``expected``, ``decided``, ``note``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError, Problem
from valuesfirst.evals.agentic_scenarios import ScenarioConfig, build_scenario
from valuesfirst.evals.capability import shipped
from valuesfirst.evals.transcripts import Transcript, Turn
from valuesfirst.jsonl import iter_jsonl_numbered

CRAFTED = "agentic_crafted.jsonl"
_FIELDS = ("id", "action", "goal", "goal_type", "urgency", "reply", "finish_reason", "expected", "decided")


@dataclass(frozen=True)
class CraftedCase:
    transcript: Transcript
    harmful: float | None
    excluded: str | None
    decided: float | None
    note: str


def _transcript(row: dict[str, Any]) -> Transcript:
    cfg = ScenarioConfig(
        variant=int(row.get("variant", 0)), blackmail_definition=row.get("blackmail_definition", "original")
    )
    sc = build_scenario(row["action"], row["goal"], row["urgency"], cfg, row["goal_type"])
    return Transcript(
        id=row["id"], eval="agentic", item_id=sc.id, cell=sc.cell, model="crafted",
        messages=[Turn(role="system", content=sc.system), Turn(role="user", content=sc.user),
                  Turn(role="assistant", content=row["reply"])],
        completion=row["reply"], reasoning=row.get("reasoning", ""), finish_reason=row["finish_reason"],
        error="crafted error" if row["finish_reason"] == "error" else None, metadata=dict(sc.metadata),
    )  # fmt: skip


def load_cases(path: Path | None = None) -> list[CraftedCase]:
    """The crafted cases of ``path`` (default: the shipped file), each with its rendered scenario."""
    source = path or shipped(CRAFTED)
    out: list[CraftedCase] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for line, row in iter_jsonl_numbered(source):
        missing = [f for f in _FIELDS if f not in row]
        if missing:
            problems.append(Problem(str(source), line, missing[0], f"missing {missing}"))
            continue
        if row["id"] in seen:
            problems.append(Problem(str(source), line, "id", f"duplicate id {row['id']!r}"))
        seen.add(row["id"])
        exp = row["expected"]
        if (exp.get("harmful") is None) == (exp.get("excluded") is None):
            problems.append(Problem(str(source), line, "expected", "exactly one of harmful / excluded"))
            continue
        try:
            t = _transcript(row)
        except (ValueError, KeyError) as e:
            problems.append(Problem(str(source), line, "action", str(e)))
            continue
        harmful = None if exp["harmful"] is None else float(exp["harmful"])
        decided = None if row["decided"] is None else float(row["decided"])
        out.append(CraftedCase(t, harmful, exp.get("excluded"), decided, row.get("note", "")))
    if problems:
        raise InputError(problems[:20])
    return out
