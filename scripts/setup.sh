#!/usr/bin/env bash
# Sets up .venv with everything valuesfirst needs, offline-safe and idempotent.
# torch is pinned and installed first: an unpinned torch would pull several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_VERSION=${VALUESFIRST_TORCH:-2.13.0}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q "torch==${TORCH_VERSION}"
fi
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/python -c "import valuesfirst, torch, transformers; print('valuesfirst', valuesfirst.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
