"""``--engine ray``: the bulk levels as a Ray Data pipeline (HttpRequestProcessorConfig) on a local Ray
cluster, against loopback OpenAI-compatible servers, through the real ``ray.data.llm`` processors.

What must hold: the corpus is byte-identical to a single-client run, also when an endpoint is killed
mid-run or the run itself is killed and resumed (by either engine); failures are excluded and counted as
the client counts them; the vLLM/SGLang processor configs carry the right fields (running them needs GPUs).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from generate_helpers import SPEC, generate_args, loopback_handler
from loopback_llm import Call, LoopbackLLM, Reply, ok
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.generate.aft import AftResult, generate_aft
from valuesfirst.generate.config import AftGenConfig, MidtrainGenConfig, RayEngineConfig
from valuesfirst.generate.fake import HashEmbedder, infer_stage
from valuesfirst.generate.level_stats import StageFailed
from valuesfirst.generate.msm import MidtrainResult, generate_midtrain
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.factory import backend_from_uri
from valuesfirst.llm.types import (
    ChatRequest,
    Message,
    PermanentBackendError,
    SamplingParams,
    TransientBackendError,
)
from valuesfirst.spec import load_spec

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'valuesfirst[ray]'")
pytest.importorskip("ray.data.llm")

COUNTS = {
    "domains": 1,
    "subdomains_per_domain": 2,
    "assertions_per_subdomain": 2,
    "doc_types_per_subdomain": 2,
    "ideas_per_doc_type": 4,
}
N_DOCS = 16  # 1 x 2 x 2 x 4 documents
OUTLINE_CALLS = 10  # domains 1, subdomains 1, assertions 2, doc types 2, ideas 4
DOCUMENT = "Write this document."  # how the loopback handler tells a document request
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}
RAY_FAST = {"concurrency": 1, "batch_size": 2, "http_retries": 0, "retry_wait_s": 0.01}  # 8 batches a level
TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """One local cluster for the module (starting one costs ~5 s): 2 CPUs, no dashboard, no usage stats."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def _midtrain(
    out: Path, urls: str, engine: dict[str, Any] | None = None, threshold: float = 0.2
) -> MidtrainResult:
    fields = {"counts": COUNTS, "engine": engine or {}, "failure_threshold": threshold}
    cfg = MidtrainGenConfig.model_validate(fields)
    backend = backend_from_uri("vllm:gen", base_url=urls)
    llm = LLMClient(backend, ClientConfig(cache_dir=out / "cache", **FAST))

    async def go() -> MidtrainResult:
        try:
            return await generate_midtrain(load_spec(SPEC), cfg, llm, out)
        finally:
            await llm.aclose()

    return asyncio.run(go())


def _ray(**over: Any) -> dict[str, Any]:
    return {"kind": "ray", "ray": {**RAY_FAST, **over}}


def _outputs(out: Path) -> dict[str, bytes]:
    files = [out / "dataset.jsonl", *sorted((out / "levels").glob("*.jsonl"))]
    return {p.name: p.read_bytes() for p in files}


def _reference(
    tmp: Path, handler: Callable[[Call], Any] = loopback_handler, threshold: float = 0.2
) -> tuple[MidtrainResult, dict[str, bytes]]:
    """The single-client run (one endpoint, the async client) every Ray run must equal."""
    with LoopbackLLM(handler) as server:
        result = _midtrain(tmp / "single", server.openai_base_url, threshold=threshold)
    return result, _outputs(tmp / "single")


class _DyingServer:
    """A loopback server in its own process that SIGKILLs itself when asked for document number
    ``after + 1``: a real kill, mid-request, of a server the Ray workers are talking to."""

    SCRIPT = """
import itertools, os, signal, sys
sys.path.insert(0, sys.argv[2])
from generate_helpers import loopback_handler
from loopback_llm import LoopbackLLM
limit, seen = int(sys.argv[1]), itertools.count(1)
def handler(call):
    if {marker!r} in call.last_user and next(seen) > limit:
        os.kill(os.getpid(), signal.SIGKILL)
    return loopback_handler(call)
with LoopbackLLM(handler) as server:
    print(server.openai_base_url, flush=True)
    sys.stdin.read()
"""

    def __init__(self, after: int) -> None:
        script = self.SCRIPT.format(marker=DOCUMENT)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, str(after), str(TESTS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url

    def __enter__(self) -> _DyingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


# -- the corpus ----------------------------------------------------------------------------------------


@pytest.mark.slow  # ~10 s on 2 cores (Ray workers start per level); CI runs -m slow
def test_two_endpoints_one_killed_mid_run_end_identical_to_one_client(
    ray_cluster: None, tmp_path: Path
) -> None:
    single, expected = _reference(tmp_path)
    with LoopbackLLM(loopback_handler) as alive, _DyingServer(after=2) as dying:
        result = _midtrain(tmp_path / "ray", f"{alive.openai_base_url},{dying.url}", _ray())
        assert dying.proc.wait(10) == -signal.SIGKILL  # it did die mid-run
        documents_to_alive = sum(DOCUMENT in c.last_user for c in alive.requests)
    assert _outputs(tmp_path / "ray") == expected  # byte-identical corpus and checkpoints
    assert result.n_documents == single.n_documents == N_DOCS
    engine = result.manifest["engine"]
    alive_row, dead_row = engine["targets"]
    assert dead_row["lost"] >= 1  # rows of its failed batches, sent again in a second round ...
    assert engine["rounds"] == 2 and dead_row["requests"] == N_DOCS // 2  # ... to the live endpoint only
    assert dead_row["answered"] <= 2 and alive_row["answered"] + dead_row["answered"] == N_DOCS
    assert documents_to_alive == alive_row["requests"] >= N_DOCS - 2
    usage = result.manifest["usage"]["stages"]["msm.documents"]
    assert (usage["calls"], usage["failed"]) == (N_DOCS, 0)
    assert usage["input_tokens"] == single.manifest["usage"]["stages"]["msm.documents"]["input_tokens"]
    assert result.manifest["levels"]["documents"]["failed"] == {}


def _is_response(call: Call) -> bool:
    """Whether the loopback server was asked for an AFT response (the fake generator's own test)."""
    system = next((m["content"] for m in call.body["messages"] if m["role"] == "system"), None)
    request = ChatRequest(messages=(Message("user", call.last_user),), system=system)
    return infer_stage(request) == "aft.responses"


def test_aft_responses_through_ray_equal_one_client(ray_cluster: None, tmp_path: Path) -> None:
    def aft(out: Path, urls: str, engine: dict[str, Any]) -> AftResult:
        fields = {"n_samples": 8, "n_domains": 2, "queries_per_type": 2, "engine": engine}
        llm = LLMClient(backend_from_uri("vllm:gen", base_url=urls), ClientConfig(cache_dir=out / "cache"))

        async def go() -> AftResult:
            try:
                config = AftGenConfig.model_validate(fields)
                return await generate_aft(load_spec(SPEC), config, llm, out, embedder=HashEmbedder())
            finally:
                await llm.aclose()

        return asyncio.run(go())

    def outputs(out: Path) -> dict[str, bytes]:
        files = [*sorted(out.glob("*.jsonl")), *sorted((out / "levels").glob("*.jsonl"))]
        return {p.name: p.read_bytes() for p in files}

    with LoopbackLLM(loopback_handler) as a:
        single = aft(tmp_path / "single", a.openai_base_url, {})
    with LoopbackLLM(loopback_handler) as a, LoopbackLLM(loopback_handler) as b:
        result = aft(tmp_path / "ray", f"{a.openai_base_url},{b.openai_base_url}", _ray())
        responses_asked = [sum(map(_is_response, server.requests)) for server in (a, b)]
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "single") and len(outputs(tmp_path / "ray")) >= 6
    assert result.n_samples == single.n_samples == 8
    engine = result.manifest["engine"]
    assert [t["answered"] for t in engine["targets"]] == responses_asked and min(responses_asked) >= 1
    assert sum(responses_asked) == result.manifest["levels"]["responses_r0"]["calls"]


@pytest.mark.slow  # ~10 s on 2 cores (Ray workers start per level); CI runs -m slow
def test_failures_are_excluded_and_counted_as_the_client_counts_them(
    ray_cluster: None, tmp_path: Path
) -> None:
    """A 400 (permanent), a 500 once (transient: answered in the next round), an answer cut off at
    max_tokens and one without a closed content block: the same corpus and the same counts as one client."""

    busy: list[str] = []  # the prompts a 500 was sent for, over both runs

    def faulty() -> Callable[[Call], Any]:
        first_500: set[str] = set()
        lock = threading.Lock()

        def handler(call: Call) -> Any:
            text = loopback_handler(call)
            if DOCUMENT not in call.last_user:
                return text
            tag = hashlib.sha256(call.last_user.encode()).hexdigest()
            n = int(tag, 16) % 8  # which fault a document gets depends on its prompt only
            if n == 0:
                bad = {"object": "error", "message": "bad prompt", "type": "BadRequest", "code": 400}
                return Reply(400, bad)
            if n == 1:
                with lock:
                    if tag not in first_500:
                        first_500.add(tag)
                        busy.append(tag)
                        return Reply(500, {"object": "error", "message": "busy", "code": 500})
            if n == 2:
                return ok(text, finish="length")
            if n == 3:
                return text.replace("</content>", "")
            return text

        return handler

    single, expected = _reference(tmp_path, faulty(), threshold=0.9)
    handler = faulty()  # one state for both servers: a prompt's 500 comes once, whichever is asked
    with LoopbackLLM(handler) as a, LoopbackLLM(handler) as b:
        urls = f"{a.openai_base_url},{b.openai_base_url}"
        result = _midtrain(tmp_path / "ray", urls, _ray(), threshold=0.9)
    assert _outputs(tmp_path / "ray") == expected
    half = len(busy) // 2
    assert busy and set(busy[:half]) == set(busy[half:])  # the same prompts got a 500 in each run
    assert result.manifest["engine"]["rounds"] == 2  # the 500s were asked again in a second round
    want, got = single.manifest["levels"]["documents"], result.manifest["levels"]["documents"]
    assert got["failed"] == want["failed"] and got["kept"] == want["kept"] < N_DOCS
    assert {"call_error.http_400", "cut_off"} <= set(got["failed"])
    failed_calls = result.manifest["usage"]["stages"]["msm.documents"]["failed"]
    assert failed_calls == want["failed"]["call_error.http_400"]  # the client counts errors only
    # Nothing failed was cached: a rerun against healthy servers fills every gap, and equals one client's.
    with LoopbackLLM(loopback_handler) as a, LoopbackLLM(loopback_handler) as b:
        healed = _midtrain(tmp_path / "ray", f"{a.openai_base_url},{b.openai_base_url}", _ray(), 0.9)
        asked = sum(DOCUMENT in c.last_user for c in a.requests + b.requests)
    assert healed.n_documents == N_DOCS and asked == N_DOCS - want["kept"]


def test_a_level_past_its_threshold_stops_the_ray_job(ray_cluster: None, tmp_path: Path) -> None:
    def refuses_documents(call: Call) -> Any:
        if DOCUMENT in call.last_user:
            return Reply(400, {"object": "error", "message": "no", "code": 400})
        return loopback_handler(call)

    with LoopbackLLM(refuses_documents) as a, pytest.raises(StageFailed) as stop:
        _midtrain(tmp_path / "ray", a.openai_base_url, _ray(batch_size=1))
    assert stop.value.stats.level == "documents" and stop.value.early
    assert stop.value.stats.failed["call_error.http_400"] < N_DOCS  # stopped before the last answer
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["status"] == "stopped" and manifest["engine"]["kind"] == "ray"


def _cache_files(out: Path) -> list[Path]:
    return [p for p in (out / "cache").glob("*/*.json") if not p.name.startswith(".tmp-")]


def _cli(out: Path, url: str, engine: str, config: Path) -> list[str]:
    args = generate_args("midtrain", out, "vllm:gen", base_url=url)
    return [sys.executable, "-m", "valuesfirst.cli", *args, "--config", str(config), "--engine", engine]


@pytest.mark.slow
def test_a_killed_ray_run_resumes_identically_with_either_engine(tmp_path: Path) -> None:
    """The CLI with ``--engine ray`` (its own local cluster) SIGKILLed while its documents are coming
    back; rerun with ``--engine client`` and with ``--engine ray``: nothing answered is asked again, and
    the corpus equals one client's. Slow: each Ray CLI run starts a cluster (~10 s on 2 cores)."""
    config = tmp_path / "gen.yaml"
    ray_cfg = {**RAY_FAST, "num_cpus": 2}
    config.write_text(json.dumps({"counts": COUNTS, "engine": {"ray": ray_cfg}}))  # JSON is YAML
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1"}
    _, expected = _reference(tmp_path)
    for resume_with in ("client", "ray"):
        out = tmp_path / resume_with
        holder: dict[str, subprocess.Popen[bytes]] = {}
        documents = itertools.count(1)

        def killing(call: Call, holder: dict = holder, documents: Any = documents, out: Path = out) -> Any:
            if DOCUMENT in call.last_user and next(documents) == 7:
                # Mid-level, once answers are in the cache (outline calls + at least two documents).
                deadline = time.monotonic() + 60
                while len(_cache_files(out)) < OUTLINE_CALLS + 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
                holder["proc"].send_signal(signal.SIGKILL)
            return loopback_handler(call)

        with LoopbackLLM(killing) as server:
            holder["proc"] = subprocess.Popen(
                [*_cli(out, server.openai_base_url, "ray", config), "--no-progress"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            assert holder["proc"].wait(120) == -signal.SIGKILL
        assert not (out / "levels" / "documents.json").exists()  # killed inside the Ray level
        cached_documents = len(_cache_files(out)) - OUTLINE_CALLS
        assert 2 <= cached_documents < N_DOCS
        with LoopbackLLM(loopback_handler) as server:
            done = subprocess.run(
                [*_cli(out, server.openai_base_url, resume_with, config), "--no-progress"],
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            asked = sum(DOCUMENT in c.last_user for c in server.requests)
        assert done.returncode == 0, done.stderr[-2000:]
        assert _outputs(out) == expected
        assert asked == N_DOCS - cached_documents  # nothing answered before the kill was asked again
        engine = json.loads((out / "manifest.json").read_text())["engine"]
        assert engine["kind"] == resume_with


# -- the CLI ---------------------------------------------------------------------------------------------


def test_ray_is_only_imported_by_the_ray_engine_and_its_absence_is_exit_2(tmp_path: Path) -> None:
    """In a fresh interpreter: the CLI runs a client-engine generation without importing Ray; with Ray
    made unimportable, ``--engine ray`` exits 2 naming the extra, before any call."""
    script = f"""
import sys
from typer.testing import CliRunner
from valuesfirst.cli import app
args = {generate_args("midtrain", tmp_path / "fake", "fake:")!r}
small = ["--domains", "1", "--subdomains", "1", "--doc-types", "1", "--ideas", "1", "--no-progress"]
res = CliRunner().invoke(app, args + small)
assert res.exit_code == 0, res.output
assert "ray" not in sys.modules, "ray imported by a client-engine run"
sys.modules["ray"] = None  # as if not installed
res = CliRunner().invoke(app, {generate_args("aft", tmp_path / "r", "vllm:gen")!r} + ["--engine", "ray"])
print(res.exit_code)
print(res.output)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    code, *output = done.stdout.splitlines()
    assert code == "2" and "pip install 'valuesfirst[ray]'" in "\n".join(output)
    assert not (tmp_path / "r" / "cache").exists()  # nothing ran


def test_engine_choices_that_cannot_run_are_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, [*generate_args("midtrain", tmp_path / "a", "vllm:gen"), "--engine", "gpu"])
    assert res.exit_code == 2 and "engine.kind" in res.output
    batch = generate_args("midtrain", tmp_path / "b", "anthropic:claude-haiku-4")
    batch += ["--batch", "--engine", "ray"]
    res = runner.invoke(app, batch, env={"ANTHROPIC_API_KEY": "x"})
    assert res.exit_code == 2 and "choose one" in res.output
    res = runner.invoke(app, [*generate_args("midtrain", tmp_path / "c", "fake:"), "--engine", "ray"])
    assert res.exit_code == 2 and "engine.ray.processor" in res.output
    assert not (tmp_path / "c" / "levels" / "domains.json").exists()  # refused before the first level


# -- processors built to Ray's API -----------------------------------------------------------------------


def _targets(cfg: RayEngineConfig, uri: str = "vllm:Qwen/Qwen3-8B", **kw: Any) -> list[Any]:
    from valuesfirst.generate.ray_engine import targets_for

    return targets_for(cfg, backend_from_uri(uri, **kw))


def test_http_processor_config_has_the_endpoint_the_key_and_the_limits() -> None:
    os.environ["VF_RAY_TEST_KEY"] = "sk-" + "r" * 24
    cfg = RayEngineConfig(batch_size=5, concurrency=3, http_retries=2, retry_wait_s=0.5, worker_cpus=0.5)
    urls = "http://127.0.0.1:8001/v1,http://127.0.0.1:8002/v1/"  # never contacted
    targets = _targets(cfg, base_url=urls, api_key_env="VF_RAY_TEST_KEY")
    configs = [t.processor_config(cfg, timeout_s=42.0) for t in targets]
    assert [c.url for c in configs] == [
        "http://127.0.0.1:8001/v1/chat/completions",
        "http://127.0.0.1:8002/v1/chat/completions",
    ]
    c = configs[0]
    assert c.headers == {"Authorization": "Bearer " + os.environ["VF_RAY_TEST_KEY"]}
    assert (c.batch_size, c.concurrency, c.max_retries, c.base_retry_wait_time_in_s) == (5, (3, 3), 2, 0.5)
    assert c.session_factory.keywords["timeout"].total == 42.0
    assert targets[0].processor_config(cfg, 42.0, tasks=2).concurrency == (2, 2)  # no idle workers
    assert c.http_request_stage == {"num_cpus": 0.5}
    request = ChatRequest.of("hi", system="be brief", params=SamplingParams(temperature=0.3, max_tokens=9))
    row = targets[0].row("k" * 64, request)
    assert row["payload"] == targets[0].backend.payload(request)  # the async client's very body
    assert row["payload"]["messages"][0] == {"role": "system", "content": "be brief"}


def test_fake_and_local_backends_are_refused_by_the_http_processor() -> None:
    from valuesfirst.errors import InputError
    from valuesfirst.generate.fake import fake_backend
    from valuesfirst.generate.ray_engine import targets_for

    with pytest.raises(InputError, match="OpenAI-compatible"):
        targets_for(RayEngineConfig(), fake_backend())


@pytest.mark.parametrize("kind", ["vllm", "sglang"])
def test_engine_processor_configs_carry_the_model_and_the_engine_settings(kind: str) -> None:
    from ray.data.llm import SGLangEngineProcessorConfig, vLLMEngineProcessorConfig

    cfg = RayEngineConfig(
        processor=kind,  # type: ignore[arg-type]
        model_source="/models/qwen3-8b",
        engine_kwargs={"tensor_parallel_size": 2, "max_model_len": 8192},
        accelerator_type="H100",
        batch_size=32,
        concurrency=None,
    )
    [target] = _targets(cfg)
    config = target.processor_config(cfg)
    assert isinstance(config, SGLangEngineProcessorConfig if kind == "sglang" else vLLMEngineProcessorConfig)
    assert (config.model_source, config.batch_size, config.concurrency) == ("/models/qwen3-8b", 32, (1, 1))
    assert config.engine_kwargs["tensor_parallel_size"] == 2 and config.engine_kwargs["max_model_len"] == 8192
    assert config.accelerator_type == "H100" and config.should_continue_on_error is True
    assert target.model == "Qwen/Qwen3-8B"  # the cache keys keep the backend's model name
    params = SamplingParams(temperature=0.7, max_tokens=100, top_p=0.9, stop=("END",))
    row = target.row("k", ChatRequest.of("write", system="sys", params=params))
    budget = "max_new_tokens" if kind == "sglang" else "max_tokens"
    assert row["sampling_params"] == {"temperature": 0.7, budget: 100, "top_p": 0.9, "stop": ["END"]}
    assert row["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "write"}]


def test_engine_answers_that_used_the_whole_budget_or_failed_are_never_kept_as_finished() -> None:
    [target] = _targets(RayEngineConfig(processor="vllm"))
    request = ChatRequest.of("write", params=SamplingParams(max_tokens=50))
    full = target.answer({"key": "k", "text": "…", "input_tokens": 9, "output_tokens": 50}, request)
    assert full.finish_reason == "length"  # no finish reason from the engine: a full budget is a cut-off
    row = {"key": "k", "text": "<content>x</content>", "input_tokens": 9, "output_tokens": 7}
    done = target.answer(row, request)
    assert (done.finish_reason, done.text) == ("stop", row["text"])
    assert (done.input_tokens, done.output_tokens) == (9, 7)
    with pytest.raises(PermanentBackendError, match="prompt too long"):
        target.answer({"key": "k", "__inference_error__": "ValueError: prompt too long"}, request)


def test_http_error_bodies_are_transient_or_permanent_as_their_status_says() -> None:
    [target] = _targets(RayEngineConfig())
    request = ChatRequest.of("q")

    def answer(body: object) -> Any:
        return target.answer({"key": "k", "body": json.dumps(body)}, request)

    with pytest.raises(PermanentBackendError) as bad:
        answer({"object": "error", "message": "context too long", "type": "BadRequestError", "code": 400})
    assert bad.value.kind == "http_400" and "context too long" in str(bad.value)
    with pytest.raises(TransientBackendError) as busy:
        answer({"error": {"message": "overloaded", "type": "server_error", "code": 503}})
    assert busy.value.kind == "http_503"
    with pytest.raises(TransientBackendError):
        answer({"error": {"message": "slow down", "type": "rate_limit_error", "code": None}})
    with pytest.raises(TransientBackendError) as empty:
        answer({"id": "x", "choices": []})
    assert empty.value.kind == "no_choices"
    choice = {"message": {"content": None, "refusal": "I won't"}, "finish_reason": "stop"}
    refused = answer({"choices": [choice], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
    assert (refused.finish_reason, refused.text, refused.input_tokens) == ("refusal", "I won't", 3)


@pytest.mark.slow
def test_vllm_engine_generates_a_corpus_on_gpus(tmp_path: Path) -> None:
    """The vLLM engine path end to end. Needs vLLM and a CUDA GPU (``pip install 'ray[llm]'`` brings
    vLLM and a CUDA torch): skipped here, where neither is installed."""
    vllm = pytest.importorskip("vllm", reason="needs vLLM and a CUDA GPU (pip install 'ray[llm]')")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    del vllm
    model = os.environ.get("VALUESFIRST_VLLM_MODEL", "Qwen/Qwen2.5-0.5B-Instruct")
    with LoopbackLLM(loopback_handler) as server:  # the outline levels; the documents run on the GPU
        cfg = {"processor": "vllm", "model_source": model, "engine_kwargs": {"max_model_len": 8192}}
        result = _midtrain(tmp_path / "gpu", server.openai_base_url, {"kind": "ray", "ray": cfg})
    documents = result.manifest["levels"]["documents"]
    assert documents["calls"] == N_DOCS and documents["kept"] + sum(documents["failed"].values()) >= N_DOCS
