"""`valuesfirst run --preview`: what the experiment's generation stages would cost, before any call.

One projection per generation stage (an MSM corpus per spec the conditions train on, the AFT data), from
the same projections `generate midtrain/aft --preview` prints, plus the grid's size, so a user sees the
bill and the work of the whole experiment and nothing is sent.
"""

from __future__ import annotations

from typing import Any

from valuesfirst.experiment.config import LoadedExperiment


def generation_previews(exp: LoadedExperiment) -> list[tuple[str, dict[str, Any]]]:
    """(stage label, projected summary) for every generation stage of the experiment."""
    from valuesfirst.experiment.data_stages import generation_config
    from valuesfirst.generate.aft import aft_prompts
    from valuesfirst.generate.msm import msm_prompts
    from valuesfirst.generate.preview import project_aft, project_midtrain, summarize
    from valuesfirst.spec import load_spec
    from valuesfirst.spec_render import render

    cfg = exp.config
    out: list[tuple[str, dict[str, Any]]] = []
    used = sorted({s.partition(":")[2] for c in cfg.conditions for s in c.steps if s.startswith("msm:")})
    for kind, source in cfg.generation_sources():
        gen = generation_config(kind, source)
        model = source.backend.partition(":")[2] or source.backend
        labels = used if kind == "msm" else [cfg.aft_spec]
        for label in labels:
            spec = load_spec(exp.spec_paths[label])
            text = render(spec, gen.variant)
            if kind == "msm":
                levels = project_midtrain(gen, msm_prompts(gen), text)
                out.append((f"msm_data[{label}]", summarize(levels, model)))
            else:
                levels = project_aft(gen, aft_prompts(gen), spec, text)
                out.append(("aft_data", summarize(levels, model)))
    return out


def grid_size(exp: LoadedExperiment) -> dict[str, int]:
    cfg = exp.config
    chains = {
        (tuple(c.steps[: i + 1]), s) for c in cfg.conditions for s in cfg.seeds for i in range(len(c.steps))
    }
    evals = {(tuple(c.steps), s) for c in cfg.conditions if c.steps for s in cfg.seeds}
    return {"training_stages": len(chains), "evaluations": (len(evals) + 1) * len(cfg.eval.suites)}
