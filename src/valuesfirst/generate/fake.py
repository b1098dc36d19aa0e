"""A deterministic offline stand-in for a generator LLM: plausible, well-formed tagged outputs for every
generation stage, derived from a hash of the prompt.

For tests, demos and ``--backend fake:`` smoke runs; the text is obviously synthetic. Wrap
:func:`fake_responder` to script hostile outputs (unclosed blocks, broken verdicts) for chosen calls.
"""

from __future__ import annotations

import json
import re

from valuesfirst.generate.parsing import stable_id
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest

_LABELS = ("value", "belief", "behaviour", "preference", "tone")


def _n(prompt: str) -> int:
    found = re.search(r"exactly (\d+)", prompt)
    return int(found.group(1)) if found else 3


def _out(items: object) -> str:
    return f"<output>\n{json.dumps(items, ensure_ascii=False)}\n</output>"


def _spec_lines(system: str) -> list[str]:
    found = re.search(r"<spec>\n(.*?)\n</spec>", system, re.S)
    body = found.group(1) if found else ""
    return [ln.strip() for ln in body.splitlines() if len(ln.strip()) > 20 and not ln.startswith("#")]


# Phrases of the v1 templates that identify a stage when the request's stage label did not travel with
# it (a request that went over HTTP to a loopback server).
_STAGE_MARKERS = (
    ("Divide the Model Spec above into", "msm.domains"),
    ("Divide this domain of the Model Spec", "msm.subdomains"),
    ("character assertions about", "msm.assertions"),
    ("types of document that would plausibly", "msm.doc_types"),
    ("ideas for documents of this type", "msm.ideas"),
    ("Write this document.", "msm.documents"),
    ("conversation domains in which", "aft.domains"),
    ("messages a user could send", "aft.queries"),
    ("different messages that real users", "aft.queries"),
    ("You review a training sample", "aft.judge"),
)


def infer_stage(request: ChatRequest) -> str:
    """The request's stage label, or the stage its v1 prompt text reveals."""
    if request.stage != "default":
        return request.stage
    user = request.messages[-1].content
    for marker, stage in _STAGE_MARKERS:
        if marker in user:
            return stage
    return "aft.responses" if "<response></response>" in (request.system or "") else "unknown"


def fake_responder(request: ChatRequest) -> str:
    user = request.messages[-1].content
    system = request.system or ""
    h = stable_id(user, request.sample)
    n = _n(user)
    stage = infer_stage(request)
    if stage in ("msm.domains", "aft.domains"):
        return _out(
            [{"name": f"area {h[:4]} {i}", "description": f"Conduct area {i} ({h[:6]})."} for i in range(n)]
        )
    if stage == "msm.subdomains":
        lines = _spec_lines(system) or ["(no spec)"]
        start = int(h[:4], 16)
        return _out(
            [
                {
                    "name": f"topic {h[:4]} {i}",
                    "context": f"Covers part {i} of the domain.",
                    "spec_section": lines[(start + i) % len(lines)],
                }
                for i in range(n)
            ]
        )
    if stage == "msm.assertions":
        return _out(
            [
                {
                    "label": _LABELS[i % 5],
                    "name": f"trait {i}",
                    "explanation": "The section says so.",
                    "assertion": f"The assistant holds trait {i} of {h[:6]}.",
                }
                for i in range(n)
            ]
        )
    if stage == "msm.doc_types":
        kinds = ("forum discussion", "internal memo", "paper introduction", "bug report", "design doc")
        return _out(
            [{"name": f"{kinds[i % 5]} {h[:3]}", "description": f"A {kinds[i % 5]}."} for i in range(n)]
        )
    if stage == "msm.ideas":
        keys = sorted(set(re.findall(r"^(A\d+) \(", user, re.M)), key=lambda k: int(k[1:])) or ["A1"]
        return _out(
            [
                {
                    "name": f"idea {i}",
                    "idea": f"A document ({h[:8]}, {i}) showing the trait.",
                    "assertions": keys[: 1 + i % 2],
                }
                for i in range(n)
            ]
        )
    if stage == "msm.documents":
        idea = re.search(r"Document idea: (.*)", user)
        what = idea.group(1) if idea else "?"
        return (
            f"<scratchpad>Plan for {h[:8]}.</scratchpad>\n<content>\nThis document ({h}) is about "
            f"{what} The assistant explains what it values and why.\n</content>"
        )
    if stage == "aft.queries":
        return _out([f"Question {i} ({h[:10]}): what would you do here?" for i in range(n)])
    if stage == "aft.responses":
        if "<thinking>" in system:
            return (
                f"<thinking>I care about this ({h[:8]}).</thinking>\n"
                f"<response>Here is my answer {h[:8]}.</response>"
            )
        return f"<response>I prefer it ({h[:6]}).</response>"
    if stage == "aft.judge":
        return "<reasoning>Aligned.</reasoning>\n<verdict>INCLUDE</verdict>"
    raise ValueError(f"fake responder: unknown stage {stage!r}")


def fake_backend(model: str = "fake") -> ScriptedBackend:
    return ScriptedBackend(fake_responder, model=model)


class HashEmbedder:
    """A cheap deterministic bag-of-words embedder (L2-normalised rows) for offline dedup tests: texts
    sharing most words score high, unrelated texts low. Not a semantic model."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def encode(self, texts: list[str]) -> object:
        import hashlib

        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)
