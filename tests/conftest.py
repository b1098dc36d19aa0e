"""Shared fixtures of general use. Keep this file small; put test-specific helpers in the test files."""

from __future__ import annotations

import os

# As in the CLI: passive OpenMP waiting, or torch threads thrash on a shared 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# No shared stage cache across run folders (runs and CLI subprocesses inherit this): no test copies a world
# or pre-trained base that a developer's earlier code, or another test, built. Its own tests turn it on.
os.environ["VALUESFIRST_STAGE_CACHE"] = "off"

import pytest  # noqa: E402

from valuesfirst.world.config import WorldConfig  # noqa: E402


@pytest.fixture(scope="session")
def small_world_config() -> WorldConfig:
    """A small embedded world (4 domains, 64 items, 50 personas, 2000 corpus docs) that builds in ms.

    Session-scoped and shared: do not mutate it; derive variants with ``.model_copy(update={...})``.
    Its item names are not those of the default world, so the demo specs do not bind to it.
    """
    return WorldConfig.model_validate({
        "seed": 0,
        "domains": ["cheese", "car", "book", "drink"],
        "items_per_cell": 2,
        "personas_full": 4,
        "personas_bio_only": 2,
        "personas_chat_only": 2,
        "personas_no_value": 8,
        "corpus_docs": 2000,
    })
