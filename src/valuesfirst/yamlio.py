"""YAML loading that remembers where everything came from.

`load_yaml` parses with PyYAML's safe loader through the node API, so it knows the 1-based line of every
mapping key and sequence item, and it rejects duplicate keys (plain PyYAML silently keeps the last one,
which hides edits that never took effect). `load_model` validates the result with pydantic and turns
*every* validation error into a `Problem` naming file, line and dotted field path.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from valuesfirst.errors import InputError, Problem

YamlPath = tuple[str | int, ...]
"""A location inside a YAML document: mapping keys and sequence indices from the root."""

LineMap = dict[YamlPath, int]
"""1-based line of every mapping key and sequence item, keyed by its path; ``()`` is the root node."""

M = TypeVar("M", bound=BaseModel)

_MERGE_TAG = "tag:yaml.org,2002:merge"
# Pydantic error types whose message does not show the offending value; we append it so a user can
# find the culprit (e.g. `yes` parsed as a boolean where a string was expected).
_SHOW_INPUT_SUFFIXES = ("_type", "_parsing")
_SHOW_INPUT_TYPES = {"literal_error", "enum", "string_pattern_mismatch"}


def field_path(loc: Sequence[str | int]) -> str:
    """Format a pydantic/YAML location as a dotted path.

    ``("values", 1, "rules", 0)`` becomes ``values[1].rules[0]``; the empty location becomes ``""``.
    """
    out = ""
    for seg in loc:
        if isinstance(seg, int) and not isinstance(seg, bool):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else str(seg)
    return out


def raise_field_errors(title: str, errors: list[tuple[YamlPath, str]], model: Any) -> None:
    """Raise cross-field errors from inside a pydantic validator, each at its own location.

    A `ValidationError` raised inside a validator is re-rooted by pydantic under the validator's
    location, so these locations come out as full paths (``conditions[2].steps[0]``) with their lines.
    """
    if not errors:
        return
    details = [
        InitErrorDetails(type=PydanticCustomError("consistency", message), loc=loc, input=model)
        for loc, message in errors
    ]
    raise ValidationError.from_exception_data(title, details)


def load_yaml(path: str | Path) -> tuple[Any, LineMap]:
    """Parse one YAML document safely and return ``(data, lines)``.

    `lines` maps the path of every mapping key and sequence item to its 1-based line, e.g.
    ``("values", 0, "why") -> 12``. Nodes reached through an alias are recorded once, at their anchor.

    Raises:
        InputError: the file is missing, a directory, unreadable, not UTF-8 or empty; the YAML is
            malformed (with the line of the error); or a mapping repeats a key (one problem per repeat).
    """
    file = str(path)
    text = _read_text(Path(path), file)
    if not text.strip():
        raise InputError.single("file is empty; expected a YAML document", file=file)
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
            if root is None:
                raise InputError.single("file has no YAML content (only comments?)", file=file)
            lines: LineMap = {(): root.start_mark.line + 1}
            duplicates: list[Problem] = []
            _walk(loader, root, (), lines, duplicates, set(), file)
            if duplicates:
                raise InputError(duplicates)
            data = loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise InputError([_syntax_problem(exc, file)]) from exc
    except yaml.YAMLError as exc:
        raise InputError.single(f"YAML error: {exc}", file=file) from exc
    except RecursionError as exc:
        raise InputError.single("YAML is nested too deeply", file=file) from exc
    return data, lines


def load_model(path: str | Path, model_cls: type[M], *, context: dict[str, Any] | None = None) -> M:
    """Load YAML from `path` and validate it as `model_cls`.

    Every pydantic error becomes a `Problem` with the dotted field path and a line: the exact line of
    the field when the file has it, otherwise the line of its nearest ancestor (a missing required field
    points at the mapping it is missing from). `context` is passed to pydantic validators.

    Raises:
        InputError: with every problem found, sorted by line.
    """
    file = str(path)
    data, lines = load_yaml(path)
    if not isinstance(data, dict):  # say so plainly rather than pydantic's "valid dictionary or instance"
        found = "empty" if data is None else f"a {type(data).__name__}"
        raise InputError(
            [Problem(file, lines.get((), 1), None, f"the file must be a mapping of fields, not {found}")]
        )
    try:
        return model_cls.model_validate(data, context=context)
    except ValidationError as exc:
        problems = [
            _validation_problem(err, data, lines, model_cls, file) for err in exc.errors(include_url=False)
        ]
    # Sort by line so the report reads top to bottom; `sorted` is stable for problems on one line.
    problems.sort(key=lambda p: p.line if p.line is not None else 0)
    raise InputError(problems)


# --- reading and parsing ---------------------------------------------------------------------------


def _read_text(path: Path, file: str) -> str:
    if not path.exists():
        raise InputError.single("file not found", file=file)
    if path.is_dir():
        raise InputError.single("is a directory; expected a YAML file", file=file)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError.single(f"cannot read file: {exc.strerror or exc}", file=file) from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError.single(
            f"file is not valid UTF-8 (byte {exc.start}: {exc.reason})", file=file, line=line
        ) from exc


def _syntax_problem(exc: yaml.MarkedYAMLError, file: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    context = str(exc.context) if exc.context else ""
    start = exc.context_mark
    if context and start is not None and mark is not None and start.line != mark.line:
        # "while parsing a flow sequence" is only findable with the line where that sequence began.
        context += f" (started on line {start.line + 1})"
    detail = "; ".join(part for part in (context, str(exc.problem or "")) if part)
    return Problem(
        file=file,
        line=mark.line + 1 if mark is not None else None,
        field=None,
        message=f"YAML syntax error: {detail or exc}",
    )


def _walk(
    loader: yaml.SafeLoader,
    node: Node,
    path: YamlPath,
    lines: LineMap,
    duplicates: list[Problem],
    seen: set[int],
    file: str,
) -> None:
    """Record the line of every key and item under `node` and collect duplicate keys.

    Runs before construction: the constructor flattens merge keys (``<<``) in place, which would make
    legitimate overrides of merged keys look like duplicates.
    """
    # An aliased node is walked once only; this also stops recursive aliases and alias bombs.
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            key = loader.construct_object(key_node)
            line = key_node.start_mark.line + 1
            seg: str | int = key if isinstance(key, str | int) and not isinstance(key, bool) else str(key)
            child = (*path, seg)
            if key in first_line:
                duplicates.append(
                    Problem(
                        file=file,
                        line=line,
                        field=field_path(child),
                        message=f"duplicate key `{key_node.value}` (first defined on line "
                        f"{first_line[key]}); YAML would silently keep only the last one",
                    )
                )
                continue
            first_line[key] = line
            lines.setdefault(child, line)
            _walk(loader, value_node, child, lines, duplicates, seen, file)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines.setdefault(child, item.start_mark.line + 1)
            _walk(loader, item, child, lines, duplicates, seen, file)


# --- validation errors -> problems -----------------------------------------------------------------


def _validation_problem(
    err: Any, data: Any, lines: LineMap, model_cls: type[BaseModel], file: str
) -> Problem:
    loc = _data_loc(data, tuple(err["loc"]))
    line = _nearest_line(lines, loc)
    kind = err["type"]
    if kind == "missing":
        message = "required field is missing"
    elif kind == "extra_forbidden":
        message = _unknown_field_message(model_cls, loc)
    else:
        message = err["msg"]
        if (kind.endswith(_SHOW_INPUT_SUFFIXES) or kind in _SHOW_INPUT_TYPES) and _is_scalar(
            err.get("input")
        ):
            message += f" (got {_short_repr(err['input'])})"
    return Problem(file=file, line=line, field=field_path(loc) or None, message=message)


def _data_loc(data: Any, loc: YamlPath) -> YamlPath:
    """Drop the segments pydantic adds for union members (``"str"``, ``"MyModel"``); they are not in the data.

    A string segment is kept when the data at that point is a mapping that has it, or when it is the
    last segment (a missing field); it is dropped when the data there is not a mapping, or when the
    mapping lacks it and more segments follow.
    """
    out: list[str | int] = []
    current: Any = data
    known = True  # whether `current` still tracks the data at `out`
    for position, seg in enumerate(loc):
        last = position == len(loc) - 1
        if not known:
            out.append(seg)
        elif isinstance(current, dict):
            if seg in current:
                current = current[seg]
                out.append(seg)
            elif last or isinstance(seg, int):
                known = False
                out.append(seg)
            # else: a union tag on a mapping input; drop it and keep `current`.
        elif isinstance(current, list) and isinstance(seg, int):
            if 0 <= seg < len(current):
                current = current[seg]
            else:
                known = False
            out.append(seg)
        elif isinstance(seg, str):
            continue  # a union tag on a non-mapping input
        else:
            known = False
            out.append(seg)
    return tuple(out)


def _nearest_line(lines: LineMap, loc: YamlPath) -> int | None:
    for end in range(len(loc), -1, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return None


def _unknown_field_message(model_cls: type[BaseModel], loc: YamlPath) -> str:
    name = str(loc[-1]) if loc else "?"
    owner = _model_at(model_cls, loc[:-1])
    if owner is None:
        return f"unknown field `{name}`"
    allowed = [field.alias or key for key, field in owner.model_fields.items()]
    message = f"unknown field `{name}`"
    close = difflib.get_close_matches(name, allowed, n=1)
    if close:
        message += f"; did you mean `{close[0]}`?"
    return message + f" (allowed: {', '.join(allowed)})"


def _model_at(model_cls: type[BaseModel], loc: YamlPath) -> type[BaseModel] | None:
    """The pydantic model that validates the data at `loc`, or None when it cannot be told statically."""
    tp: Any = model_cls
    for seg in loc:
        tp = _unwrap(tp)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(seg, str):
            field = next((f for k, f in tp.model_fields.items() if (f.alias or k) == seg), None)
            if field is None:
                return None
            tp = field.annotation
        elif origin in (list, tuple, set, frozenset, Sequence) and isinstance(seg, int):
            tp = get_args(tp)[0]
        elif origin is dict:
            tp = get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` so the model behind a field type can be found."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin is Union or origin is types.UnionType:
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
