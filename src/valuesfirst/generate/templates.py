"""Prompt templates as versioned text files.

Templates live in ``valuesfirst/prompts/<kind>/<version>/<name>.txt`` (or a user folder) and use
``string.Template`` placeholders (``$spec``, ``${n}``) because prompts are full of JSON braces that
``str.format`` would trip over. A missing placeholder value is a programming error and raises at once;
the SHA-256 of every template goes into the manifest, so a corpus records the exact prompts it came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from valuesfirst.errors import InputError


@dataclass(frozen=True)
class PromptSet:
    kind: str
    version: str
    source: str
    texts: dict[str, str]

    def render(self, template: str, /, **fields: object) -> str:
        """Fill `template`; every placeholder must be given (KeyError otherwise)."""
        return Template(self.texts[template]).substitute({k: str(v) for k, v in fields.items()})

    def hashes(self) -> dict[str, str]:
        return {name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in self.texts.items()}

    def digest(self) -> str:
        """One hash over all templates (name and content), for level keys."""
        blob = "\n".join(f"{k}:{v}" for k, v in sorted(self.hashes().items()))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def load_prompts(kind: str, version: str, names: tuple[str, ...], folder: Path | None = None) -> PromptSet:
    """Read templates `names` of prompt set `kind`/`version`, from `folder` when given.

    Raises InputError naming the missing template file.
    """
    if folder is not None:
        base: object = Path(folder)
        source = str(folder)
    else:
        base = resources.files("valuesfirst") / "prompts" / kind / version
        source = f"valuesfirst/prompts/{kind}/{version}"
    texts: dict[str, str] = {}
    for name in names:
        path = base / f"{name}.txt"  # type: ignore[operator]
        try:
            texts[name] = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            field = "prompts_dir" if folder is not None else "prompt_version"
            raise InputError.single(
                f"prompt template {name}.txt not found in {source}", field=field
            ) from None
    return PromptSet(kind=kind, version=version, source=source, texts=texts)
