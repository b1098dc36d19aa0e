"""The ``valuesfirst`` command: spec check/render, config validation by ``run``, and ``report`` errors.

Everything here fails before any training starts, so the file is fast. The end-to-end runs (demo, reuse,
resume after kill, report re-rendering) live in ``test_experiment.py``.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from valuesfirst.cli import app
from valuesfirst.commands.experiment import demo_config_path
from valuesfirst.errors import InputError
from valuesfirst.experiment.config import load_experiment

SPECS_DIR = demo_config_path().parent.parent / "specs"
BUNDLED_SPECS = sorted(SPECS_DIR.glob("*.yaml"))
SPEC_A = SPECS_DIR / "pro_thrift_cheese.yaml"
# Wide enough that rich never wraps a problem line (the wrapping itself is pinned by an xfail below).
ENV = {"COLUMNS": "1000"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(app, args, env=ENV)


def plain(text: str) -> str:
    """Output without ANSI styling (in case the environment forces colour)."""
    return _ANSI.sub("", text)


def line_of(text: str, startswith: str) -> int:
    """1-based number of the only line of ``text`` that starts with ``startswith``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if line.startswith(startswith)]
    assert len(hits) == 1, f"expected exactly one line starting with {startswith!r}, got {hits}"
    return hits[0]


# --- spec check / spec render ---------------------------------------------------------------------------


def test_bundled_specs_exist() -> None:
    # The tests below are only meaningful if the package ships its specs.
    assert {p.name for p in BUNDLED_SPECS} >= {
        "pro_thrift_cheese.yaml",
        "pro_homeland_cheese.yaml",
        "thrift_comention_cheese.yaml",
    }


def test_spec_check_bundled_specs_ok() -> None:
    result = invoke(["spec", "check", *map(str, BUNDLED_SPECS)])
    assert result.exit_code == 0, plain(result.output)
    out = plain(result.stdout)
    for spec in BUNDLED_SPECS:
        assert f"{spec}: ok" in out
    assert plain(result.stderr).strip() == ""


@pytest.fixture
def bad_spec(tmp_path: Path) -> Path:
    """Spec A with the typo ``wy:`` for ``why:`` and the required ``identity.developer`` deleted."""
    text = SPEC_A.read_text(encoding="utf-8")
    assert text.count("\n    why:") == 1 and text.count("\n  developer:") == 1
    text = text.replace("\n    why:", "\n    wy:")
    text = re.sub(r"\n  developer:[^\n]*", "", text)
    path = tmp_path / "bad_spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_spec_check_names_file_line_and_field(bad_spec: Path) -> None:
    text = bad_spec.read_text(encoding="utf-8")
    typo_line = line_of(text, "    wy:")
    identity_line = line_of(text, "identity:")
    value_line = line_of(text, "  - name: thrift")

    result = invoke(["spec", "check", str(SPEC_A), str(bad_spec)])

    assert result.exit_code == 2
    err = plain(result.stderr)
    # The typo: its own line, its full field path, and a suggestion.
    assert f"{bad_spec}:{typo_line}: field `values[0].wy`: unknown field `wy`" in err
    assert "did you mean `why`" in err
    # The missing fields: located at the mapping that lacks them.
    assert f"{bad_spec}:{identity_line}: field `identity.developer`: required field is missing" in err
    assert f"{bad_spec}:{value_line}: field `values[0].why`: required field is missing" in err
    # The good file given alongside is still checked and reported ok; it is not blamed.
    assert f"{SPEC_A}: ok" in plain(result.stdout)
    assert str(SPEC_A) not in err


def test_spec_check_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_spec.yaml"
    result = invoke(["spec", "check", str(missing)])
    assert result.exit_code == 2
    assert f"{missing}: file not found" in plain(result.stderr)


def test_spec_check_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("title: x\nidentity: [unclosed\n", encoding="utf-8")
    result = invoke(["spec", "check", str(path)])
    assert result.exit_code == 2
    assert re.search(rf"{re.escape(str(path))}:\d+: ", plain(result.stderr)), plain(result.stderr)


def test_spec_check_problem_lines_are_not_wrapped_when_piped(bad_spec: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.run(
        [sys.executable, "-m", "valuesfirst.cli", "spec", "check", str(bad_spec)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = [line for line in plain(proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 3, lines  # one line per problem, each a complete `FILE:LINE: ...` record
    assert all(line.startswith(f"{bad_spec}:") for line in lines), lines


def test_spec_render_variants() -> None:
    why_fragment = "Cheap things are open to everyone"
    rule = "When asked to choose, pick the cheaper option."

    full = invoke(["spec", "render", str(SPEC_A), "--variant", "values_explained"])
    assert full.exit_code == 0, plain(full.output)
    assert why_fragment in plain(full.stdout) and rule in plain(full.stdout)
    assert "The thrifty assistant" in plain(full.stdout)

    rules = invoke(["spec", "render", str(SPEC_A), "--variant", "rules_only"])
    assert rules.exit_code == 0, plain(rules.output)
    assert rule in plain(rules.stdout)
    assert why_fragment not in plain(rules.stdout)  # rules without reasons


def test_spec_render_errors(tmp_path: Path, bad_spec: Path) -> None:
    unknown = invoke(["spec", "render", str(SPEC_A), "--variant", "no_such_variant"])
    assert unknown.exit_code == 2
    assert "no_such_variant" in plain(unknown.output)

    missing = invoke(["spec", "render", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2
    assert "nope.yaml" in plain(missing.stderr)

    bad = invoke(["spec", "render", str(bad_spec)])
    assert bad.exit_code == 2
    assert "values[0].wy" in plain(bad.stderr)


# --- run: invalid configs fail before anything is written ---------------------------------------------


def demo_config() -> dict[str, Any]:
    """The bundled demo config with its spec paths made absolute (they are relative to the config file)."""
    src = demo_config_path()
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    data["specs"] = {k: str((src.parent / v).resolve()) for k, v in data["specs"].items()}
    return data


def write_config(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> Path:
    data = copy.deepcopy(demo_config())
    mutate(data)
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def test_demo_config_with_absolute_spec_paths_is_valid(tmp_path: Path) -> None:
    # The invalid configs below differ from this one by a single edit; it must itself load.
    path = write_config(tmp_path, lambda d: None)
    for quick in (False, True):
        exp = load_experiment(path, quick=quick)
        assert set(exp.spec_paths) == {"A", "B", "A_ablation"}
        assert all(p.is_file() for p in exp.spec_paths.values())


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        node: Any = d
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


# (id, edit, strings the error output must contain, the line it must point at: a prefix of that line)
INVALID_CONFIGS = [
    (
        "unknown_top_field",
        _set(("pretrian",), {"seed": 0}),
        ["field `pretrian`", "did you mean `pretrain`"],
        "pretrian:",
    ),
    (
        "unknown_nested_field",
        _set(("stages", "aft", "stepz"), 5),
        ["field `stages.aft.stepz`", "did you mean `steps`"],
        "    stepz:",
    ),
    (
        "condition_names_missing_spec",
        _set(("conditions", 2, "steps"), ["msm:NOPE"]),
        ["conditions[2].steps[0]", "msm:NOPE", "specs"],
        None,
    ),
    (
        "claim_names_missing_condition",
        _set(("claims", 0, "a"), "no_such_condition"),
        ["claims[0].a", "no_such_condition"],
        None,
    ),
    ("aft_spec_names_missing_spec", _set(("data", "aft_spec"), "NOPE"), ["data.aft_spec", "NOPE"], None),
    (
        "missing_spec_file",
        _set(("specs", "B"), "/nonexistent/valuesfirst/spec_b.yaml"),
        ["field `specs.B`", "/nonexistent/valuesfirst/spec_b.yaml", "not found"],
        None,
    ),
    ("bad_value_type", _set(("pretrain", "seed"), "zero"), ["field `pretrain.seed`", "zero"], "  seed: zero"),
]


@pytest.mark.timeout(300)  # a validation regression would start training; fail instead of hanging
@pytest.mark.parametrize("quick", [True, False], ids=["quick", "full"])
@pytest.mark.parametrize(
    ("case", "mutate", "expected", "line_prefix"), INVALID_CONFIGS, ids=[c[0] for c in INVALID_CONFIGS]
)
def test_run_invalid_config_exits_2_and_writes_nothing(
    tmp_path: Path,
    case: str,
    mutate: Callable[[dict[str, Any]], None],
    expected: list[str],
    line_prefix: str | None,
    quick: bool,
) -> None:
    config = write_config(tmp_path, mutate)
    out = tmp_path / "out" / "run"
    result = invoke(["run", str(config), "--out", str(out), *(["--quick"] if quick else [])])

    assert result.exit_code == 2, plain(result.output)
    err = plain(result.stderr)
    assert str(config) in err
    for s in expected:
        assert s in err, f"{case}: {s!r} not in:\n{err}"
    if line_prefix is not None:
        line = line_of(config.read_text(encoding="utf-8"), line_prefix)
        assert f"{config}:{line}: " in err, err
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["experiment.yaml"]


@pytest.mark.timeout(300)
def test_run_invalid_config_default_out_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without --out the run folder would be runs/<name> under the working directory.
    config = write_config(tmp_path, _set(("stages", "msm", "stepz"), 1))
    monkeypatch.chdir(tmp_path)
    result = invoke(["run", str(config), "--quick"])
    assert result.exit_code == 2, plain(result.output)
    assert "stages.msm.stepz" in plain(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["experiment.yaml"]


@pytest.mark.timeout(300)
def test_run_typo_in_quick_section_with_quick(tmp_path: Path) -> None:
    config = write_config(tmp_path, _set(("quick", "pretrain", "max_stepz"), 3))
    out = tmp_path / "out"
    result = invoke(["run", str(config), "--out", str(out), "--quick"])
    assert result.exit_code == 2, plain(result.output)
    assert "max_stepz" in plain(result.stderr)
    assert "quick.pretrain.max_stepz" in plain(result.stderr)
    assert not out.exists()


@pytest.mark.timeout(300)
def test_run_missing_or_malformed_config(tmp_path: Path) -> None:
    out = tmp_path / "out"
    missing = tmp_path / "no_such_config.yaml"
    result = invoke(["run", str(missing), "--out", str(out), "--quick"])
    assert result.exit_code == 2
    assert str(missing) in plain(result.stderr)

    not_a_mapping = tmp_path / "list.yaml"
    not_a_mapping.write_text("- a\n- b\n", encoding="utf-8")
    result = invoke(["run", str(not_a_mapping), "--out", str(out), "--quick"])
    assert result.exit_code == 2
    assert f"{not_a_mapping}:1: " in plain(result.stderr)
    assert "mapping" in plain(result.stderr)

    duplicate = tmp_path / "dup.yaml"
    duplicate.write_text("name: a\nname: b\n", encoding="utf-8")
    result = invoke(["run", str(duplicate), "--out", str(out), "--quick"])
    assert result.exit_code == 2
    assert str(duplicate) in plain(result.stderr)
    assert not out.exists()


def test_cross_reference_errors_name_field_path_and_line(tmp_path: Path) -> None:
    cond = write_config(tmp_path, _set(("conditions", 2, "steps"), ["msm:NOPE"]))
    with pytest.raises(InputError) as exc:
        load_experiment(cond, quick=True)
    (problem,) = exc.value.problems
    assert problem.field == "conditions[2].steps[0]"
    text = cond.read_text(encoding="utf-8")
    assert problem.line is not None and "msm:NOPE" in text.splitlines()[problem.line - 1]


def test_typo_in_quick_section_is_reported_without_quick(tmp_path: Path) -> None:
    config = write_config(tmp_path, _set(("quick", "pretrain", "max_stepz"), 3))
    with pytest.raises(InputError) as exc:
        load_experiment(config, quick=False)
    (problem,) = exc.value.problems
    assert problem.field == "quick.pretrain.max_stepz"
    assert problem.line == line_of(config.read_text(encoding="utf-8"), "    max_stepz:")


# --- report errors --------------------------------------------------------------------------------------


def test_report_without_results_exits_2(tmp_path: Path) -> None:
    result = invoke(["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "results.json" in plain(result.stderr)
    assert str(tmp_path) in plain(result.stderr)
    assert list(tmp_path.iterdir()) == []  # nothing rendered

    missing = tmp_path / "no_such_run"
    result = invoke(["report", str(missing)])
    assert result.exit_code == 2
    assert not missing.exists()


def test_report_with_corrupt_results_names_line(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text('{\n  "title": "x",\n  oops\n}\n', encoding="utf-8")
    result = invoke(["report", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'results.json'}:3: " in plain(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_no_arguments_shows_help() -> None:
    result = invoke([])
    for command in ("run", "demo", "report", "spec"):
        assert command in plain(result.output)
