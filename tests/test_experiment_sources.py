"""The experiment engine on non-world sources: your own spec and JSONL data on a causal LM from a folder,
configs that travel with their files, and every input error reported before any stage runs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.experiment.config import load_experiment
from valuesfirst.experiment.preflight import preflight
from valuesfirst.train.tiny import make_tiny_model_folder, toy_sentences

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_spec"


@pytest.fixture(scope="module")
def copied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The own-spec example copied elsewhere, on a tiny random model in a folder beside the config."""
    root = tmp_path_factory.mktemp("copy") / "my-experiment"
    shutil.copytree(EXAMPLE, root)
    make_tiny_model_folder(root / "model", toy_sentences(200), arch="llama")
    cfg = yaml.safe_load((root / "experiment.yaml").read_text())
    cfg["model"] = {"path": "./model"}
    for kind in ("msm", "aft"):
        cfg["stages"][kind].update({"seq_len": 128, "lora": {"r": 4, "alpha": 8}, "steps": 3})
    cfg["seeds"] = [0, 1]
    (root / "experiment.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return root


def invoke(args: list[str], cwd: Path | None = None):  # noqa: ANN201 - typer's Result
    old = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        return CliRunner().invoke(app, args)
    finally:
        os.chdir(old)


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_copied_config_resolves_paths_against_its_own_folder(copied: Path, tmp_path: Path) -> None:
    os.chdir(tmp_path)  # anywhere else
    exp = load_experiment(copied / "experiment.yaml")
    assert exp.spec_paths["A"] == copied / "spec_frugal.yaml"
    assert exp.config.model.path == str(copied / "model")
    assert exp.config.data.msm.files["A"] == [copied / "msm_a.jsonl"]  # type: ignore[union-attr]
    assert exp.config.eval.suites[0].items == copied / "pairs.jsonl"  # type: ignore[union-attr]
    assert preflight(exp) == []


def test_run_on_a_model_folder_with_jsonl_data_end_to_end(copied: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = invoke(["run", "experiment.yaml", "--out", str(out)], cwd=copied)
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    assert set(res["conditions"]) == {"base", "aft", "msm_a_aft", "msm_b_aft"}
    for name, c in res["conditions"].items():
        assert c["n_pairs"] == 12, name  # 3 domains x 2 x 2 pairs, both orders averaged per pair
        assert 0.0 <= c["rate"] <= 1.0
        assert set(c["per_seed"]) == ({"0"} if name == "base" else {"0", "1"})
    kinds = {json.loads(m.read_text())["kind"] for m in (out / "stages").glob("*/manifest.json")}
    assert kinds == {"model", "msm_data", "aft_data", "replay", "msm", "aft", "eval"}
    # LoRA stages keep adapters and lineage only (no merged copies), and no work folders stay behind.
    for stage in (out / "stages").glob("aft-*"):
        assert (stage / "adapter" / "adapter_model.safetensors").is_file()
        assert not (stage / "model").exists()
        lineage = json.loads((stage / "lineage.json").read_text())
        assert lineage["base"] == str(copied / "model") and lineage["adapters"][-1] == "./adapter"
    assert not any((out / "work").glob("*")) if (out / "work").exists() else True
    history = json.loads(next((out / "stages").glob("msm-*")).joinpath("history.json").read_text())
    assert len(history["loss"]) == 3
    # A rerun reuses every stage and gives the same numbers.
    again = invoke(["run", "experiment.yaml", "--out", str(out)], cwd=copied)
    assert again.exit_code == 0, again.output
    res2 = json.loads((out / "results.json").read_text())
    assert all(s["reused"] for s in res2["stages"])
    assert res2["conditions"] == res["conditions"]


def test_own_spec_with_a_world_source_fails_before_anything_runs(tmp_path: Path) -> None:
    # The trap a new user walks into: an own spec (not in the world's lexicon) with the default sources.
    cfg = yaml.safe_load((EXAMPLE / "experiment.yaml").read_text())
    cfg = {k: v for k, v in cfg.items() if k not in ("data", "model", "eval", "stages", "quick")}
    cfg["specs"] = {"A": str(EXAMPLE / "spec_frugal.yaml"), "B": str(EXAMPLE / "spec_tradition.yaml")}
    cfg["stages"] = {"msm": {"preset": "tiny_world", "steps": 2}, "aft": {"preset": "tiny_world", "steps": 2}}
    path = write(tmp_path / "exp.yaml", cfg)
    result = invoke(["run", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "spec_frugal.yaml:9: field `values[0].name`" in text and "'frugality' is not a value" in text
    assert "exp.yaml" in text and "field `specs.A`" in text
    assert not (tmp_path / "run").exists()  # nothing was built: no world, no pre-training


def test_generation_backend_without_key_and_bad_mix_fail_at_once(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    cfg = yaml.safe_load((EXAMPLE / "experiment.yaml").read_text())
    cfg.pop("quick")
    for k in ("A", "B"):
        cfg["specs"][k] = str(EXAMPLE / cfg["specs"][k])
    cfg["data"] = {
        "msm": {
            "source": "generate",
            "backend": "anthropic:claude-opus-4-6",
            "overrides": {"counts": {"domains": 2}},
        },
        "aft": {"source": "jsonl", "files": [str(EXAMPLE / "aft.jsonl"), str(tmp_path / "missing.jsonl")]},
        "replay": {"source": "none"},
    }
    cfg["stages"]["aft"]["mix"] = {"aft": 0.5, "replay": 0.5}
    cfg["eval"]["suites"][0]["items"] = str(EXAMPLE / "pairs.jsonl")
    path = write(tmp_path / "exp.yaml", cfg)
    result = invoke(["run", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "field `data.msm.backend`" in text and "ANTHROPIC_API_KEY" in text
    assert "missing.jsonl: field `data.aft.files`: file does not exist" in text
    assert "field `stages.aft.mix.replay`" in text and "no data of kind 'replay'" in text
    assert not (tmp_path / "run").exists()


def test_bad_jsonl_row_is_named_by_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "aft.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    cfg = yaml.safe_load((EXAMPLE / "experiment.yaml").read_text())
    cfg.pop("quick")
    for k in ("A", "B"):
        cfg["specs"][k] = str(EXAMPLE / cfg["specs"][k])
    cfg["data"]["msm"]["files"] = {k: [str(EXAMPLE / v[0])] for k, v in cfg["data"]["msm"]["files"].items()}
    cfg["data"]["aft"]["files"] = [str(bad)]
    cfg["data"]["replay"]["files"] = [str(EXAMPLE / "replay.jsonl")]
    cfg["eval"]["suites"][0]["items"] = str(EXAMPLE / "pairs.jsonl")
    path = write(tmp_path / "exp.yaml", cfg)
    result = invoke(["run", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert f"{bad}:1: field `messages`: chat has no assistant turn" in " ".join(result.output.split())


def test_generation_source_runs_inside_the_experiment(copied: Path, tmp_path: Path) -> None:
    cfg = yaml.safe_load((copied / "experiment.yaml").read_text())
    counts = {k: 1 for k in ("subdomains_per_domain", "assertions_per_subdomain", "doc_types_per_subdomain")}
    counts.update(domains=2, ideas_per_doc_type=2)
    cfg["data"]["msm"] = {"source": "generate", "backend": "fake", "overrides": {"counts": counts}}
    cfg["conditions"] = [c for c in cfg["conditions"] if c["name"] in ("base", "msm_a_aft")]
    cfg["claims"], cfg["seeds"] = [], [0]
    path = write(copied / "gen.yaml", cfg)
    preview = invoke(["run", str(path), "--preview", "--out", str(tmp_path / "p")])
    assert preview.exit_code == 0, preview.output
    assert "msm_data[A]" in preview.output and "no call made" in preview.output
    assert not (tmp_path / "p" / "stages").exists()
    out = tmp_path / "run"
    result = invoke(["run", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (msm,) = (out / "stages").glob("msm_data-*")
    rows = [json.loads(line) for line in (msm / "msm.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["kind"] == "msm" and r["text"].strip() for r in rows)
    assert not list((out / "work").glob("msm_data-*"))  # the generation work folder went with success
    again = invoke(["run", str(path), "--out", str(out)])
    assert again.exit_code == 0 and all(
        s["reused"] for s in json.loads((out / "results.json").read_text())["stages"]
    )


def test_preview_prices_a_paid_backend_without_calling_it(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ANTHROPIC_API_KEY", "not-a-real-key")  # preflight builds the client; nothing is sent
    cfg = yaml.safe_load((EXAMPLE / "experiment.yaml").read_text())
    cfg.pop("quick")
    for k in ("A", "B"):
        cfg["specs"][k] = str(EXAMPLE / cfg["specs"][k])
    cfg["data"]["msm"] = {"source": "generate", "backend": "anthropic:claude-opus-4-6"}
    cfg["data"]["aft"]["files"] = [str(EXAMPLE / "aft.jsonl")]
    cfg["data"]["replay"]["files"] = [str(EXAMPLE / "replay.jsonl")]
    cfg["eval"]["suites"][0]["items"] = str(EXAMPLE / "pairs.jsonl")
    path = write(tmp_path / "exp.yaml", cfg)
    result = invoke(["run", str(path), "--preview", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "msm_data[A]" in text and "msm_data[B]" in text
    assert "projected generation cost of the experiment: $" in text or "cost unknown" in text
    assert "training stages" in text and not (tmp_path / "run" / "stages").exists()


def test_set_overrides_fields_and_names_a_wrong_one(copied: Path) -> None:
    from valuesfirst.experiment.config import parse_overrides

    exp = load_experiment(
        copied / "experiment.yaml", overrides=parse_overrides(["stages.msm.steps=7", "seeds=[3]"])
    )
    assert exp.config.stages["msm"].steps == 7 and exp.config.seeds == [3]
    assert exp.config.model.path == str(copied / "model")  # paths still resolve against the file
    bad = invoke(["run", str(copied / "experiment.yaml"), "--set", "stages.msm.stepz=3", "--preview"])
    assert bad.exit_code == 2 and "--set stages.msm.stepz" in " ".join(bad.output.split()), bad.output
    malformed = invoke(["run", str(copied / "experiment.yaml"), "--set", "seeds"])
    assert malformed.exit_code == 2 and "is not KEY=VALUE" in malformed.output


def test_generation_suite_in_an_experiment_excludes_and_counts_what_it_cannot_parse(
    copied: Path, tmp_path: Path
) -> None:
    # A random tiny model never writes <answer>A</answer>: every sample is excluded and counted, nothing is
    # scored as a choice, and a claim on that metric is "not testable" rather than a number.
    cfg = yaml.safe_load((copied / "experiment.yaml").read_text())
    cfg["conditions"] = [c for c in cfg["conditions"] if c["name"] in ("base", "msm_a_aft", "msm_b_aft")]
    cfg["seeds"] = [0]
    cfg["eval"]["suites"].append(
        {"suite": "values", "items": "pairs.jsonl", "max_tokens": 6, "temperature": 0}
    )
    cfg["claims"].append({"kind": "gap", "id": "served", "title": "served choice", "a": "msm_a_aft",
                          "b": "msm_b_aft", "metric": "values.value_aligned"})  # fmt: skip
    path = write(copied / "served.yaml", cfg)
    out = tmp_path / "run"
    result = invoke(["run", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    counts = res["metrics"]["values.value_aligned"]
    assert counts["units"] == 0 and sum(counts["excluded_samples"].values()) == 3 * 24
    served = next(c for c in res["claims"] if c["id"] == "served")
    assert served["holds"] is None and "no unit scored" in served["reason"]
    assert res["claims"][0]["metric"] == "choice"
    (stage,) = [p for p in (out / "stages").glob("eval-*") if (p / "transcripts.jsonl").is_file()][:1]
    assert not (stage / "_model").exists()  # the merged copy served for generation is not kept


def test_variants_are_validated_and_applied_by_name(copied: Path, tmp_path: Path) -> None:
    from valuesfirst.errors import InputError

    cfg = yaml.safe_load((copied / "experiment.yaml").read_text())
    cfg["variants"] = {"one_seed": {"seeds": [5]}}
    path = write(copied / "variants.yaml", cfg)
    assert load_experiment(path, variants=["one_seed"]).config.seeds == [5]
    assert load_experiment(path).config.seeds == [0, 1]
    with pytest.raises(InputError, match="no variant 'full'"):
        load_experiment(path, variants=["full"])
    cfg["variants"] = {"broken": {"stages": {"msm": {"stepz": 3}}}}
    bad = write(tmp_path / "bad.yaml", cfg)
    result = invoke(["run", str(bad), "--preview"])
    assert result.exit_code == 2 and "variants.broken.stages.msm.stepz" in result.output, result.output


def test_generation_that_fails_stops_the_run_before_training(copied: Path, tmp_path: Path) -> None:
    # A random model as the generator: its answers cannot be parsed, the first level passes the failure
    # threshold, and the experiment stops (exit 1) with the reason, publishing no data and training nothing.
    cfg = yaml.safe_load((copied / "experiment.yaml").read_text())
    counts = dict.fromkeys(("domains", "subdomains_per_domain", "assertions_per_subdomain",
                            "doc_types_per_subdomain", "ideas_per_doc_type"), 1)  # fmt: skip
    sampling = {
        k: {"max_tokens": 16}
        for k in ("domains", "subdomains", "assertions", "doc_types", "ideas", "documents")
    }
    cfg["data"]["msm"] = {"source": "generate", "backend": f"local:{copied / 'model'}",
                          "overrides": {"counts": counts, "sampling": sampling}}  # fmt: skip
    path = write(copied / "failing.yaml", cfg)
    out = tmp_path / "run"
    result = invoke(["run", str(path), "--out", str(out)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert (
        "msm generation in" in text and "stopped: level domains" in text and "rerun the same command" in text
    )
    assert not list((out / "stages").glob("msm_data-*")) and not list((out / "stages").glob("msm-*"))


def test_a_generation_engine_override_does_not_change_the_data_stage_key() -> None:
    """The engine is the calls' transport, not the corpus: switching it must find the same stage (and its
    work folder with the level caches), while an override of what is generated makes another stage."""
    from valuesfirst.artifacts.keys import StageSpec, stage_key
    from valuesfirst.experiment.runner import _source_key
    from valuesfirst.experiment.sources import GenerateMsm

    def key(overrides: dict) -> str:
        src = GenerateMsm(source="generate", backend="fake", overrides=overrides)
        return stage_key(StageSpec("msm_data", {"source": _source_key(src)}, seed=0))

    plain = key({"counts": {"domains": 2}})
    assert key({"counts": {"domains": 2}, "engine": {"kind": "ray", "ray": {"batch_size": 64}}}) == plain
    assert key({"counts": {"domains": 3}}) != plain


def test_an_endpoints_file_is_read_beside_the_config_and_keyed_by_its_urls(
    copied: Path, tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    from valuesfirst.experiment.runner import _source_key

    cfg = yaml.safe_load((copied / "experiment.yaml").read_text())
    cfg["data"]["msm"] = {"source": "generate", "backend": "vllm:m", "base_url": "@endpoints.txt"}
    (copied / "endpoints.txt").write_text("http://127.0.0.1:8001/v1\nhttp://127.0.0.1:8002/v1  # second\n")
    path = write(copied / "endpoints.yaml", cfg)
    monkeypatch.chdir(tmp_path)  # anywhere else: the file is found beside the config, not in the cwd
    exp = load_experiment(path)
    assert exp.config.data.msm.base_url == "@" + str(copied / "endpoints.txt")
    key = _source_key(exp.config.data.msm)
    assert key["base_url"] == "http://127.0.0.1:8001/v1,http://127.0.0.1:8002/v1"  # not the file's place
