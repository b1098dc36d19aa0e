"""Where scripts/setup.sh installs torch from: the pip arguments that get a CPU build here.

    python scripts/torch_source.py VERSION     # prints pip arguments (one per line), or nothing

On an ordinary Linux machine, ``pip install torch==VERSION`` from PyPI is the CUDA build: several GB of
``nvidia-*`` packages a CPU-only project never uses. So pip is asked first, with a dry run (no download
beyond metadata, nothing installed), what the configured indexes would give. When that is a CUDA build
(a ``+cu`` version, or ``nvidia-*`` requirements that apply to this platform), or when the configured
indexes have no such torch at all, the PyTorch CPU index is used instead. When the configured indexes
already give a CPU build (macOS and Windows wheels on PyPI, or a machine whose pip config serves a local
``+cpu`` wheel), nothing is added, so offline machines keep working.

``VALUESFIRST_TORCH_INDEX`` overrides the choice: ``default`` (the configured indexes, as they are) or an
index URL. Standard library only: this runs in a fresh virtual environment, before anything is installed.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _marker_applies(requirement: str) -> bool:
    """Whether a ``requires_dist`` entry applies here; unknown markers count as applying (the safe side)."""
    _, sep, marker = requirement.partition(";")
    if not sep:
        return True
    # packaging, or the copy pip vendors (a fresh virtual environment has pip and nothing else).
    for module in ("packaging.markers", "pip._vendor.packaging.markers"):
        try:
            markers = importlib.import_module(module)
        except ImportError:
            continue
        try:
            return bool(markers.Marker(marker.strip()).evaluate({"extra": ""}))
        except Exception:  # an unparseable marker: assume it applies
            return True
    return True


def cuda_packages(metadata: dict[str, Any]) -> list[str]:
    """The CUDA parts a torch distribution would pull here (empty for a CPU build)."""
    found = []
    version = str(metadata.get("version", ""))
    if "+cu" in version or "+rocm" in version:
        found.append(f"torch {version}")
    for req in metadata.get("requires_dist") or []:
        name = req.split(";")[0].strip().lower()
        if name.startswith(("nvidia-", "nvidia_", "triton")) and _marker_applies(req):
            found.append(name.split()[0])
    return found


def resolve(version: str, pip_args: Sequence[str] = ()) -> dict[str, Any] | None:
    """pip's dry-run resolution of ``torch==version`` (its report's entry), or None when it finds none."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
               "--quiet", "--report", str(report), *pip_args, f"torch=={version}"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not report.is_file():
            return None
        entries = json.loads(report.read_text(encoding="utf-8")).get("install") or []
    return next((e for e in entries if e.get("metadata", {}).get("name", "").lower() == "torch"), None)


def choose(
    version: str, env: dict[str, str] | None = None, pip_args: Sequence[str] = ()
) -> tuple[list[str], str]:
    """(pip arguments, why) for installing a CPU build of ``torch==version``; ``pip_args`` go to the dry
    run (tests pass ``--isolated`` to see what a stock machine's pip would resolve)."""
    override = (env if env is not None else os.environ).get("VALUESFIRST_TORCH_INDEX", "")
    if override == "default":
        return [], "VALUESFIRST_TORCH_INDEX=default: the configured indexes, as they are"
    if override:
        return ["--index-url", override], f"VALUESFIRST_TORCH_INDEX: {override}"
    entry = resolve(version, pip_args)
    if entry is None:
        return ["--index-url", CPU_INDEX], f"the configured indexes have no torch=={version}: {CPU_INDEX}"
    cuda = cuda_packages(entry.get("metadata", {}))
    if cuda:
        shown = ", ".join(cuda[:3]) + (", ..." if len(cuda) > 3 else "")
        return ["--index-url", CPU_INDEX], f"torch=={version} there is a CUDA build ({shown}): {CPU_INDEX}"
    url = entry.get("download_info", {}).get("url", "?")
    return [], f"the configured indexes give a CPU build ({entry['metadata'].get('version')}, {url})"


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    args, why = choose(argv[0])
    print(f"torch: {why}", file=sys.stderr)
    for arg in args:
        print(arg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
