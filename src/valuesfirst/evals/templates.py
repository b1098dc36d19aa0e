"""Versioned prompt templates for judges, attackers and scenarios (``prompts/evals/<version>/*.txt``).

Templates use ``string.Template`` placeholders (``$name`` / ``${name}``) filled with ``substitute``, which
raises on a missing variable: the reference agentic eval sent a literal ``{company_name}`` and an unfilled
``${direction_modifier}`` to models because it used ``safe_substitute``; here such a template fails loudly
before any call is made. Values are inserted verbatim (a ``$`` inside a transcript is never expanded).
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

DEFAULT_VERSION = "v1"


@dataclass(frozen=True)
class PromptTemplate:
    """One template file: its name, version, text, and a content hash recorded with every score."""

    name: str
    version: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def variables(self) -> set[str]:
        """The placeholder names the template uses."""
        names = set()
        for match in string.Template.pattern.finditer(self.text):
            name = match.group("named") or match.group("braced")
            if name:
                names.add(name)
        return names

    def render(self, **values: object) -> str:
        """Fill every placeholder; a missing one raises ``KeyError`` naming the template and variable."""
        missing = self.variables - set(values)
        if missing:
            raise KeyError(f"template {self.version}/{self.name}.txt needs {sorted(missing)}")
        return string.Template(self.text).substitute({k: str(v) for k, v in values.items()})

    def provenance(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


@lru_cache(maxsize=256)
def load_template(name: str, version: str = DEFAULT_VERSION) -> PromptTemplate:
    """Load ``prompts/evals/<version>/<name>.txt`` from the installed package."""
    path = resources.files("valuesfirst") / "prompts" / "evals" / version / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"no eval prompt template {version}/{name}.txt")
    return PromptTemplate(name=name, version=version, text=path.read_text(encoding="utf-8"))
