"""Tests for valuesfirst.artifacts (stage keys, reuse, atomic publish, crash recovery) and provenance."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from valuesfirst.artifacts import (
    MANIFEST,
    StageSpec,
    StageStore,
    list_stages,
    load_manifest,
    stage_key,
    verify_stage,
)

# Submodules, for monkeypatching a name where it is looked up (aliased: tests name their StageStore `store`).
from valuesfirst.artifacts import keys as artifact_keys
from valuesfirst.artifacts import store as artifact_store
from valuesfirst.errors import InputError
from valuesfirst.provenance import is_secret_key, provenance, redact


def _writer(text: str = "hello", outputs: Mapping[str, Any] | None = None, calls: list[Path] | None = None):
    """A build function that writes one file and records that it was called."""

    def build(folder: Path) -> Mapping[str, Any] | None:
        if calls is not None:
            calls.append(folder)
        (folder / "out.txt").write_text(text)
        (folder / "sub").mkdir()
        (folder / "sub" / "rows.jsonl").write_text('{"a": 1}\n')
        return outputs

    return build


def _entries(store: StageStore) -> list[str]:
    return sorted(p.name for p in store.stages_dir.iterdir()) if store.stages_dir.exists() else []


# --- keys -------------------------------------------------------------------------------------------------


def test_key_is_stable_across_dict_order_and_label() -> None:
    a = StageSpec("msm", {"lr": 1e-4, "opt": {"b": 2, "a": 1}}, seed=1, label="one")
    b = StageSpec("msm", {"opt": {"a": 1, "b": 2}, "lr": 1e-4}, seed=1, label="two")
    assert stage_key(a) == stage_key(b)
    assert len(stage_key(a)) == 16 and all(c in "0123456789abcdef" for c in stage_key(a))
    # 1 and 1.0 are the same setting.
    assert stage_key(StageSpec("msm", {"epochs": 1})) == stage_key(StageSpec("msm", {"epochs": 1.0}))


def test_spec_copies_config_so_later_mutation_cannot_change_key() -> None:
    config: dict[str, Any] = {"opt": {"lr": 1e-4}}
    spec = StageSpec("msm", config)
    before = stage_key(spec)
    config["opt"]["lr"] = 1.0
    assert stage_key(spec) == before


def test_key_changes_with_kind_config_seed_and_format(monkeypatch: pytest.MonkeyPatch) -> None:
    base = StageSpec("msm", {"lr": 1e-4}, seed=1)
    variants = [
        StageSpec("aft", {"lr": 1e-4}, seed=1),
        StageSpec("msm", {"lr": 2e-4}, seed=1),
        StageSpec("msm", {"lr": 1e-4}, seed=2),
        StageSpec("msm", {"lr": 1e-4}, seed=None),
        StageSpec("msm", {"lr": 1e-4, "extra": None}, seed=1),
    ]
    keys = {stage_key(base)} | {stage_key(v) for v in variants}
    assert len(keys) == len(variants) + 1
    old = stage_key(base)
    monkeypatch.setattr(artifact_keys, "STAGE_FORMAT_VERSION", artifact_keys.STAGE_FORMAT_VERSION + 1)
    assert stage_key(base) != old


def test_key_changes_with_input_file_content_not_name(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("spec v1")
    (tmp_path / "b.txt").write_text("spec v1")
    key_a = stage_key(StageSpec("msm", {}, inputs={"spec": tmp_path / "a.txt"}))
    key_b = stage_key(StageSpec("msm", {}, inputs={"spec": tmp_path / "b.txt"}))
    assert key_a == key_b  # same content at another path: same key
    (tmp_path / "a.txt").write_text("spec v2")
    assert stage_key(StageSpec("msm", {}, inputs={"spec": tmp_path / "a.txt"})) != key_a
    # The input's name is part of the key.
    assert stage_key(StageSpec("msm", {}, inputs={"other": tmp_path / "b.txt"})) != key_b


def test_key_of_plain_directory_input_tracks_names_and_content(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "x").mkdir(parents=True)
    (data / "x" / "1.txt").write_text("one")
    spec = StageSpec("eval", {}, inputs={"data": data})
    first = stage_key(spec)
    as_str = StageSpec("eval", {}, inputs={"data": str(data)})  # type: ignore[dict-item]
    assert stage_key(as_str) == first  # str paths are accepted and normalised
    (data / "x" / "1.txt").write_text("uno")
    second = stage_key(spec)
    assert second != first
    (data / "x" / "1.txt").rename(data / "x" / "2.txt")
    assert stage_key(spec) not in {first, second}


def test_missing_input_is_input_error_naming_it(tmp_path: Path) -> None:
    spec = StageSpec("aft", {}, inputs={"base": tmp_path / "nowhere"})
    with pytest.raises(InputError) as info:
        stage_key(spec)
    problem = info.value.problems[0]
    assert problem.field == "inputs.base" and problem.file == str(tmp_path / "nowhere")


def test_chained_keys_change_downstream(tmp_path: Path) -> None:
    store = StageStore(tmp_path)

    def pipeline(lr: float) -> tuple[str, str, str]:
        msm = store.run(StageSpec("msm", {"lr": lr}), _writer())
        aft = store.run(StageSpec("aft", {"lr": 1e-5}, inputs={"model": msm.path}), _writer())
        ev = store.run(StageSpec("eval", {"n": 10}, inputs={"model": aft.path}), _writer())
        return msm.key, aft.key, ev.key

    first = pipeline(1e-4)
    second = pipeline(2e-4)
    # Downstream builds write identical bytes, yet their keys change because an upstream config did.
    assert all(a != b for a, b in zip(first, second, strict=True))
    assert pipeline(1e-4) == first  # and everything is reused when nothing changed
    # A stage input is fingerprinted by key, recorded in the manifest.
    aft_manifest = load_manifest(store.stages_dir / f"aft-{first[1]}")
    assert aft_manifest["inputs"]["model"]["fingerprint"] == f"stage:{first[0]}"


def test_incomplete_stage_folder_is_refused_as_input(tmp_path: Path) -> None:
    store = StageStore(tmp_path)
    done = store.run(StageSpec("msm", {}), _writer())
    manifest = json.loads((done.path / MANIFEST).read_text())
    manifest["status"] = "building"
    (done.path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="not complete"):
        stage_key(StageSpec("aft", {}, inputs={"model": done.path}))


def test_spec_validation_names_field(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        StageSpec("Bad Kind!", {})
    assert info.value.problems[0].field == "kind"
    with pytest.raises(InputError) as info:
        StageSpec("msm", {"opt": {"lr": float("nan")}})
    assert info.value.problems[0].field == "config.opt.lr"
    with pytest.raises(InputError) as info:
        StageSpec("msm", {"data": [1, tmp_path]})
    assert info.value.problems[0].field == "config.data[1]"
    assert "inputs" in info.value.problems[0].message
    with pytest.raises(InputError) as info:
        StageSpec("msm", {}, seed=True)  # a bool is not a seed
    assert info.value.problems[0].field == "seed"


# --- running ----------------------------------------------------------------------------------------------


def test_run_builds_then_reuses_without_calling_build(tmp_path: Path) -> None:
    store = StageStore(tmp_path)
    spec = StageSpec("msm", {"lr": 1e-4}, seed=3, label="msm[A] seed=3")
    calls: list[Path] = []
    assert not store.is_done(spec)
    first = store.run(spec, _writer(outputs={"loss": 1.5}, calls=calls))
    assert not first.reused and len(calls) == 1
    assert first.path == store.path_for(spec) == tmp_path / "stages" / f"msm-{first.key}"
    assert store.is_done(spec)
    assert (first.path / "out.txt").read_text() == "hello"

    m = first.manifest
    assert m == load_manifest(first.path)
    assert (m["kind"], m["key"], m["label"], m["seed"], m["status"]) == (
        "msm",
        first.key,
        "msm[A] seed=3",
        3,
        "complete",
    )
    assert m["config"] == {"lr": 1e-4} and m["outputs"] == {"loss": 1.5}
    assert m["duration_s"] >= 0 and m["started"] <= m["finished"]
    files = {f["path"]: f for f in m["files"]}
    assert set(files) == {"out.txt", "sub/rows.jsonl"}
    assert files["out.txt"]["size"] == 5
    assert verify_stage(first.path) == []
    assert "packages" in m["provenance"]

    second = store.run(spec, _writer(calls=calls))
    assert second.reused and len(calls) == 1
    assert second.path == first.path and second.manifest == first.manifest
    # The temp folder was published by rename: nothing else is left in stages/.
    assert _entries(store) == [first.path.name]


def test_force_rebuilds_and_replaces(tmp_path: Path) -> None:
    store = StageStore(tmp_path)
    spec = StageSpec("msm", {})
    store.run(spec, _writer("v1"))
    result = store.run(spec, _writer("v2"), force=True)
    assert not result.reused
    assert (result.path / "out.txt").read_text() == "v2"
    assert _entries(store) == [result.path.name]


@pytest.mark.parametrize(
    "error",
    [RuntimeError("boom"), OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
    ids=["exception", "enospc", "interrupt"],
)
def test_failed_build_leaves_nothing_and_rerun_builds(tmp_path: Path, error: BaseException) -> None:
    store = StageStore(tmp_path)
    spec = StageSpec("msm", {"lr": 1e-4})
    seen: list[Path] = []

    def failing(folder: Path) -> None:
        seen.append(folder)
        (folder / "partial.bin").write_bytes(b"\0" * 1000)
        raise error

    with pytest.raises(type(error)) as info:
        store.run(spec, failing)
    assert info.value is error  # re-raised unchanged, errno included
    assert seen and not seen[0].exists()  # temp folder removed
    assert not store.path_for(spec).exists()  # final folder never created
    assert not store.is_done(spec)
    assert _entries(store) == []

    result = store.run(spec, _writer())
    assert not result.reused and store.is_done(spec)


def test_enospc_while_writing_manifest_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StageStore(tmp_path)
    spec = StageSpec("msm", {})

    def full_disk(path: Path, obj: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(artifact_store, "write_json", full_disk)
    with pytest.raises(OSError) as info:
        store.run(spec, _writer())
    assert info.value.errno == errno.ENOSPC
    assert _entries(store) == []
    monkeypatch.undo()
    assert not store.run(spec, _writer()).reused


def test_build_must_return_mapping_and_jsonable_outputs(tmp_path: Path) -> None:
    store = StageStore(tmp_path)
    with pytest.raises(TypeError, match="expected a mapping"):
        store.run(StageSpec("msm", {}), lambda folder: [1, 2])  # type: ignore[arg-type,return-value]
    with pytest.raises(InputError) as info:
        store.run(StageSpec("msm", {}), lambda folder: {"loss": float("nan")})
    assert info.value.problems[0].field == "outputs.loss"

    def writes_manifest(folder: Path) -> None:
        (folder / MANIFEST).write_text("{}")

    with pytest.raises(ValueError, match="reserved"):
        store.run(StageSpec("msm", {}), writes_manifest)
    assert _entries(store) == []


def test_leftover_final_folder_without_complete_manifest_is_rebuilt(tmp_path: Path) -> None:
    store = StageStore(tmp_path)
    spec = StageSpec("msm", {"lr": 1e-4})
    leftover = store.path_for(spec)
    leftover.mkdir(parents=True)
    (leftover / "junk.bin").write_text("half written")
    assert not store.is_done(spec)
    with pytest.raises(InputError):
        load_manifest(leftover)

    calls: list[Path] = []
    result = store.run(spec, _writer(calls=calls))
    assert not result.reused and calls
    assert not (result.path / "junk.bin").exists()
    assert {f["path"] for f in result.manifest["files"]} == {"out.txt", "sub/rows.jsonl"}
    assert _entries(store) == [leftover.name]


def test_corrupt_manifest_is_rebuilt(tmp_path: Path) -> None:
    store = StageStore(tmp_path)
    spec = StageSpec("msm", {})
    first = store.run(spec, _writer())
    (first.path / MANIFEST).write_text('{"status": "compl')  # torn by some external tool
    assert not store.is_done(spec)
    assert not store.run(spec, _writer()).reused
    assert store.is_done(spec)


_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from valuesfirst.artifacts import StageSpec, StageStore

    def build(folder):
        (folder / "weights.bin").write_bytes(b"x" * 4096)
        print("BUILDING", folder, flush=True)
        time.sleep(60)

    StageStore(Path(sys.argv[1])).run(StageSpec("msm", {"lr": 0.0001}), build)
    """
)


def test_sigkill_mid_build_then_rerun_builds_and_cleans(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the build is under way
        assert line.startswith("BUILDING"), proc.stderr.read() if proc.stderr else line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    stale = Path(line.split(" ", 1)[1].strip())
    assert stale.is_dir() and stale.name.startswith(".tmp-msm-")
    assert str(proc.pid) in stale.name

    store = StageStore(tmp_path)
    spec = StageSpec("msm", {"lr": 0.0001})
    assert not store.is_done(spec)  # the killed build published nothing
    result = store.run(spec, _writer())
    assert not result.reused and store.is_done(spec)
    assert not stale.exists()
    assert _entries(store) == [result.path.name]


def test_temp_folder_of_live_process_is_not_cleaned(tmp_path: Path) -> None:
    store = StageStore(tmp_path)
    store.stages_dir.mkdir(parents=True)
    host = artifact_store._host_tag()
    live = store.stages_dir / f".tmp-msm-0123456789abcdef-{host}-{os.getppid()}-abcd1234"
    other_host = store.stages_dir / f".tmp-msm-0123456789abcdef-00000000-{2**22 + 7}-abcd1234"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = store.stages_dir / f".tmp-aft-0123456789abcdef-{host}-{dead.pid}-abcd1234"
    for folder in (live, other_host, gone):
        folder.mkdir()
    assert store.clean_stale() == [gone]
    assert live.exists() and other_host.exists() and not gone.exists()


def test_concurrent_publish_keeps_first_complete_stage(tmp_path: Path) -> None:
    store = StageStore(tmp_path)
    spec = StageSpec("msm", {})

    def racing(folder: Path) -> dict[str, str]:
        # Another process finishes the same stage while this build runs.
        StageStore(tmp_path).run(spec, _writer("winner"))
        (folder / "out.txt").write_text("loser")
        return {"who": "loser"}

    result = store.run(spec, racing)
    assert result.reused
    assert (result.path / "out.txt").read_text() == "winner"
    assert _entries(store) == [result.path.name]


# --- manifests, listing, secrets --------------------------------------------------------------------------


def test_list_stages_returns_finished_only(tmp_path: Path) -> None:
    store = StageStore(tmp_path)
    assert list_stages(tmp_path) == []
    a = store.run(StageSpec("msm", {"x": 1}), _writer())
    b = store.run(StageSpec("aft", {"x": 1}, inputs={"model": a.path}), _writer())
    (store.stages_dir / "eval-ffffffffffffffff").mkdir()  # leftover, not listed
    (store.stages_dir / ".tmp-eval-ffffffffffffffff-x-1-y").mkdir()  # temp, not listed
    listed = list_stages(tmp_path)
    assert [(m["kind"], m["key"]) for m in listed] == [("aft", b.key), ("msm", a.key)]


def test_verify_stage_detects_edits(tmp_path: Path) -> None:
    result = StageStore(tmp_path).run(StageSpec("msm", {}), _writer())
    (result.path / "out.txt").write_text("tampered")
    (result.path / "extra.txt").write_text("new")
    messages = sorted(p.message for p in verify_stage(result.path))
    assert messages == ["content differs from manifest", "not in manifest"]


def test_secrets_are_redacted_from_manifest(tmp_path: Path) -> None:
    config = {
        "backend": {"api_key": "sk-live-abcdefghijklmnopqrstu", "headers": {"Authorization": "Bearer xyz"}},
        "hfToken": "hf_abcdefghijklmnopqrstuvwxyz",
        "db": {"PASSWORD": "hunter2", "client_secret": "s3cr3t"},
        "eos_token": "<|im_end|>",
        "max_new_tokens": 256,
        "api_key_env": "OPENAI_API_KEY",
        "note": "sk-" + "ant-abcdefghijklmnopqrstuvwxyz",  # built at run time: no key literal in git
    }
    store = StageStore(tmp_path)
    result = store.run(StageSpec("gen", config), _writer(outputs={"access_token": "abc", "tokens": 10}))
    text = (result.path / MANIFEST).read_text()
    for secret in ("sk-live", "Bearer xyz", "hf_abc", "hunter2", "s3cr3t", "sk-ant", '"abc"'):
        assert secret not in text, secret
    cfg = result.manifest["config"]
    assert cfg["backend"]["api_key"] == "***" and cfg["backend"]["headers"]["Authorization"] == "***"
    assert cfg["hfToken"] == "***" and cfg["db"] == {"PASSWORD": "***", "client_secret": "***"}
    assert cfg["note"] == "***"
    # Non-secrets that merely contain "token"/"key" survive.
    assert cfg["eos_token"] == "<|im_end|>" and cfg["max_new_tokens"] == 256
    assert cfg["api_key_env"] == "OPENAI_API_KEY"
    assert result.manifest["outputs"] == {"access_token": "***", "tokens": 10}
    assert result.manifest["key"] == result.key  # "key" is not a secret


def test_redact_is_recursive_and_does_not_mutate() -> None:
    original: dict[str, Any] = {"items": [{"token": "t"}, ({"secret": 1},)], "token": None, "ok": 1}
    redacted = redact(original)
    assert redacted == {"items": [{"token": "***"}, [{"secret": "***"}]], "token": None, "ok": 1}
    assert original["items"][0] == {"token": "t"}
    assert is_secret_key("X-Api-Key") and is_secret_key("openaiApiKey") and is_secret_key("TOKEN")
    assert not is_secret_key("pad_token") and not is_secret_key("tokenizer") and not is_secret_key("key")


def test_provenance_fields_and_privacy() -> None:
    import platform
    import socket

    info = provenance()
    assert info["python"] == platform.python_version()
    # Everything that decides training numerics, at the installed version; deepspeed is optional (null).
    for name in ("valuesfirst", "torch", "transformers", "tokenizers", "accelerate", "peft", "safetensors"):
        assert info["packages"][name] == metadata.version(name), name
    assert "deepspeed" in info["packages"]
    assert set(info["git"]) == {"commit", "dirty"}
    assert info["timestamp"].endswith("Z")
    assert socket.gethostname() not in json.dumps(info)
    json.dumps(info)  # JSON-able


def test_provenance_marks_missing_package_as_null(monkeypatch: pytest.MonkeyPatch) -> None:
    from valuesfirst import provenance as prov

    prov._package_versions.cache_clear()
    monkeypatch.setattr(prov, "PACKAGES", ("valuesfirst", "definitely-not-installed-pkg"))
    try:
        assert prov.provenance()["packages"]["definitely-not-installed-pkg"] is None
    finally:
        prov._package_versions.cache_clear()


def test_git_state_fails_silently(tmp_path: Path) -> None:
    from valuesfirst.provenance import git_state

    assert git_state(tmp_path) == {"commit": None, "dirty": None}
    assert git_state(tmp_path / "missing") == {"commit": None, "dirty": None}


def test_run_timing_is_recorded(tmp_path: Path) -> None:
    def slow(folder: Path) -> None:
        time.sleep(0.05)
        (folder / "a").write_text("a")

    result = StageStore(tmp_path).run(StageSpec("msm", {}), slow)
    assert result.manifest["duration_s"] >= 0.04


def test_input_changed_during_build_is_not_published(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("v1")
    store = StageStore(tmp_path / "runs")
    spec = StageSpec("msm", {}, inputs={"spec": spec_file})

    def edits_input(folder: Path) -> None:
        (folder / "out.txt").write_text(spec_file.read_text())
        spec_file.write_text("v2")  # a user edits the spec while the stage runs

    with pytest.raises(InputError) as info:
        store.run(spec, edits_input)
    assert info.value.problems[0].field == "inputs.spec"
    assert _entries(store) == []


def test_folder_whose_manifest_has_another_key_is_rebuilt(tmp_path: Path) -> None:
    store = StageStore(tmp_path)
    spec = StageSpec("msm", {})
    first = store.run(spec, _writer("v1"))
    manifest = json.loads((first.path / MANIFEST).read_text())
    manifest["key"] = "0" * 16
    (first.path / MANIFEST).write_text(json.dumps(manifest))
    assert not store.is_done(spec)
    result = store.run(spec, _writer("v2"))
    assert not result.reused and result.manifest["key"] == result.key
    assert (result.path / "out.txt").read_text() == "v2"
