"""Stage outputs as content-addressed, resumable, atomically published folders.

A *stage* is one step of a pipeline ("pretrain", "msm", "aft", "eval") whose output is a folder. Its key
is a hash of what determines the output: kind, config, seed and the fingerprints of its inputs. Inputs
that are themselves finished stages contribute their key, so keys chain: changing an upstream config
changes every downstream key, and an unchanged prefix of a pipeline is reused.

Publishing is atomic. ``build`` writes into a private temporary folder; only after it returns, its files
are hashed and fsynced and ``manifest.json`` says ``"status": "complete"``, is the folder renamed to its
final name. A crash, ``kill -9`` or full disk therefore leaves either no final folder or a complete one;
leftovers are private temp folders, which later runs remove once their owner process is dead.

Layout::

    ROOT/stages/{kind}-{key}/manifest.json        finished stage
    ROOT/stages/.tmp-{kind}-{key}-{host}-{pid}-{random}/   build in progress (or crashed)

One concept per module:

- ``keys``: ``StageSpec``, ``canonical_json``, ``fingerprint_input`` and ``stage_key``;
- ``manifests``: the manifest file, ``load_manifest``, ``list_stages`` and ``verify_stage``;
- ``store``: ``StageStore`` (build, atomic publish, crash recovery) and ``StageResult``.
"""

from __future__ import annotations

from valuesfirst.artifacts.keys import (
    STAGE_FORMAT_VERSION,
    StageSpec,
    canonical_json,
    fingerprint_input,
    stage_key,
)
from valuesfirst.artifacts.manifests import (
    MANIFEST,
    list_stages,
    load_manifest,
    verify_stage,
)
from valuesfirst.artifacts.manifests import STAGES_DIR as STAGES_DIR  # public, but never was in __all__
from valuesfirst.artifacts.store import StageResult, StageStore

__all__ = [
    "MANIFEST",
    "STAGE_FORMAT_VERSION",
    "StageResult",
    "StageSpec",
    "StageStore",
    "canonical_json",
    "fingerprint_input",
    "list_stages",
    "load_manifest",
    "stage_key",
    "verify_stage",
]
