"""Errors for bad user input (specs, configs, datasets).

Every check that can find more than one problem collects them all and raises a single `InputError`,
so a user fixes a file in one pass instead of one problem per run. The CLI maps `InputError` to exit
code 2 and prints one line per problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in user input, located as precisely as we know.

    Attributes:
        file: the file the problem is in, or None when the input did not come from a file.
        line: 1-based line number in `file`, or None when unknown.
        field: dotted field path such as ``values[0].why``, or None when the problem is not about a field.
        message: what is wrong, in words a user can act on.
    """

    file: str | None
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        """Format as ``FILE:LINE: field `PATH`: MESSAGE``, leaving out the parts that are unknown."""
        parts: list[str] = []
        if self.file is not None and self.line is not None:
            parts.append(f"{self.file}:{self.line}")
        elif self.file is not None:
            parts.append(self.file)
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field `{self.field}`")
        parts.append(self.message)
        return ": ".join(parts)


class InputError(Exception):
    """Bad user input (spec, config, dataset). The CLI maps it to exit code 2. Carries every problem found.

    The message has one line per problem, in the order given.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        if not self.problems:
            # An input error without a problem would tell the user nothing; refuse rather than fail open.
            raise ValueError("InputError needs at least one Problem")
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(
        cls, message: str, *, file: str | None = None, line: int | None = None, field: str | None = None
    ) -> InputError:
        """Build an error that carries one problem."""
        return cls([Problem(file=file, line=line, field=field, message=message)])

    def __reduce__(self) -> tuple[type[InputError], tuple[list[Problem]]]:
        # Exception pickles its `args` (the joined message) by default, which __init__ would reject;
        # rebuild from the problems instead so the error survives multiprocessing.
        return (type(self), (self.problems,))
