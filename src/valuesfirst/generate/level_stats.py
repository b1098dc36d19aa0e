"""What a level counts: calls, failed calls, kept rows against the level's target, every failure and drop
reason with its count and one example message, and the two failure rates the threshold reads.

A **failed call** is an answer the level could not use at all: the call errored (``call_error.<kind>``:
``http_401``, ``connection``, ``deadline`` ...), the provider refused, the answer was cut off at max_tokens
(``cut_off``), it did not parse (``no_output``, ``unclosed_content``, ``invalid_json`` ...), or every item in
it failed. A **failed row** is an item lost inside an answer (``bad_item``, ``section_not_verbatim``,
``short_list`` when fewer items came back than were asked for ...). The threshold applies to both rates:
failed calls / all calls of the level, and failed rows / (failed rows + kept rows). Drops (duplicates, items
beyond the count asked for, judge exclusions) are intended and never count as failures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from valuesfirst.provenance import redact_text

EXAMPLE_CHARS = 240
"""An example message is cut to this many characters (it may quote the model's answer)."""


def example_text(text: str) -> str:
    text = redact_text(" ".join(text.split()))
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + "…"


@dataclass
class LevelStats:
    """Counts of one level (see the module docstring for what counts as failed)."""

    level: str
    calls: int = 0
    kept: int = 0
    failed_calls: int = 0
    failed_rows: int = 0
    target: int | None = None
    """Rows the configured counts ask of this level (as ``--preview`` projects them); None: no target."""
    failed: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    """One message per failure reason: the first seen, in request order."""

    def fail(self, reason: str, n: int = 1, example: str | None = None) -> None:
        """Count ``n`` failed rows of ``reason`` (a call-level failure is counted by the runner)."""
        self.failed[reason] += n
        self.failed_rows += n
        self._example(reason, example)

    def fail_call(self, reason: str, example: str | None = None) -> None:
        self.failed[reason] += 1
        self.failed_calls += 1
        self._example(reason, example)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] += n

    def _example(self, reason: str, example: str | None) -> None:
        if reason not in self.examples:
            self.examples[reason] = example_text(example or reason)

    def merge(self, other: LevelStats) -> None:
        """Add the counts of one answer (``other``) to this level's."""
        self.failed.update(other.failed)
        self.dropped.update(other.dropped)
        self.failed_rows += other.failed_rows
        self.failed_calls += other.failed_calls
        for reason, text in other.examples.items():
            self.examples.setdefault(reason, text)

    @property
    def call_failure_rate(self) -> float:
        return self.failed_calls / self.calls if self.calls else 0.0

    @property
    def row_failure_rate(self) -> float:
        total = self.failed_rows + self.kept
        return self.failed_rows / total if total else 0.0

    @property
    def failure_rate(self) -> float:
        """The larger of the two rates: what the threshold is compared with."""
        return max(self.call_failure_rate, self.row_failure_rate)

    @property
    def short_by(self) -> int:
        return max(0, self.target - self.kept) if self.target is not None else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "calls": self.calls,
            "failed_calls": self.failed_calls,
            "kept": self.kept,
            "target": self.target,
            "failed_rows": self.failed_rows,
            "failed": dict(sorted(self.failed.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "examples": dict(sorted(self.examples.items())),
            "call_failure_rate": round(self.call_failure_rate, 6),
            "row_failure_rate": round(self.row_failure_rate, 6),
            "failure_rate": round(self.failure_rate, 6),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LevelStats:
        return cls(
            level=data["level"],
            calls=data["calls"],
            kept=data["kept"],
            failed_calls=data.get("failed_calls", 0),
            failed_rows=data.get("failed_rows", 0),
            target=data.get("target"),
            failed=Counter(data["failed"]),
            dropped=Counter(data["dropped"]),
            examples=dict(data.get("examples", {})),
        )

    def summary(self) -> str:
        failed = ", ".join(f"{k}={v}" for k, v in sorted(self.failed.items())) or "none"
        dropped = ", ".join(f"{k}={v}" for k, v in sorted(self.dropped.items())) or "none"
        kept = f"kept {self.kept}" + (f" of {self.target}" if self.target is not None else "")
        return (
            f"level {self.level}: {self.calls} calls, {self.failed_calls} failed "
            f"({self.call_failure_rate:.1%}), {kept}, failed [{failed}], dropped [{dropped}], "
            f"failed rows {self.failed_rows} ({self.row_failure_rate:.1%})"
        )

    def reasons(self) -> str:
        """One line per failure reason: count and example message."""
        return "\n".join(
            f"  {reason} x{count}: {self.examples.get(reason, reason)}"
            for reason, count in sorted(self.failed.items(), key=lambda kv: (-kv[1], kv[0]))
        )


def hints(stats: LevelStats) -> list[str]:
    """What to do about the failures a level counted."""
    reasons = set(stats.failed)
    out = []
    if "cut_off" in reasons:
        out.append(
            f"answers were cut off at max_tokens: raise sampling.{stats.level.split('_r')[0]}.max_tokens"
        )
    if any(r.startswith(("unclosed_", "no_", "multiple_", "empty_")) for r in reasons):
        out.append("answers ended without the tagged block the prompt asks for: check the model follows it")
    if reasons & {"call_error.http_401", "call_error.http_403"}:
        out.append("the server rejected the API key: check --api-key-env")
    if "call_error.connection" in reasons or "call_error.http_404" in reasons:
        out.append("the server could not be reached at that address: check --base-url and that it is up")
    if reasons & {"call_error.deadline", "call_error.attempt_timeout", "call_error.timeout"}:
        out.append(
            "the server answered too slowly: raise --attempt-timeout/--call-deadline or lower --concurrency"
        )
    return out


class StageFailed(Exception):
    """A level's failure rate passed the configured threshold; the run stops instead of producing a
    silently thin corpus. ``early``: stopped before every call returned, once the failed calls alone
    put the level above the threshold whatever the rest would bring."""

    def __init__(self, stats: LevelStats, threshold: float, *, early: bool = False) -> None:
        self.stats = stats
        self.threshold = threshold
        self.early = early
        when = " (stopped early: the calls still open could not bring it under)" if early else ""
        advice = "".join(f"\n{h}." for h in hints(stats))
        super().__init__(
            f"{stats.summary()}; above the failure threshold {threshold:.0%}{when}. Nothing downstream "
            f"was generated. Failures:\n{stats.reasons()}{advice}\nRerun the same command to resume: "
            "usable answers come from the cache; failed calls and unusable answers are asked again."
        )
