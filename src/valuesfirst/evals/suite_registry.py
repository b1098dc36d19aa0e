"""Registers the suites that live in their own modules (imported lazily by :mod:`suites`)."""

from __future__ import annotations

from valuesfirst.evals.suites import Suite, SuiteOptions, register


def _values() -> Suite:
    from valuesfirst.evals import values
    from valuesfirst.evals.logprob_cli import value_items

    def build(o: SuiteOptions) -> list:
        return values.served_items(value_items(o.items), o.answer_format)

    return Suite("values", (values.METRIC,), build, values.score_served)


register("values", _values)


def _spec_suite(name: str) -> Suite:
    from valuesfirst.errors import InputError
    from valuesfirst.evals import spec_evals

    def build(o: SuiteOptions) -> list:
        out = []
        if name in ("spec-qa", "spec"):
            out += spec_evals.qa_items(o.items if name == "spec-qa" else None, o.spec)
        if name in ("knowledge", "spec"):
            if o.spec is None:
                raise InputError.single(
                    "spec knowledge needs --spec (the spec the model was trained on)", field="spec"
                )
            out += spec_evals.knowledge_items(o.spec)
        return out

    metrics = {"spec-qa": (spec_evals.QA_METRIC,), "knowledge": (spec_evals.KNOWLEDGE_METRIC,)}
    both = (spec_evals.QA_METRIC, spec_evals.KNOWLEDGE_METRIC)
    return Suite(
        name, metrics.get(name, both), build, spec_evals.score, spec_evals.make_judge, scale=(0.0, 10.0)
    )


for _name in ("spec-qa", "knowledge", "spec"):
    register(_name, lambda n=_name: _spec_suite(n))  # type: ignore[misc]


def _sycophancy() -> Suite:
    from valuesfirst.evals import sycophancy

    return Suite(
        "sycophancy",
        ("sycophantic", "initial_correct"),
        lambda o: sycophancy.items(o.items),
        sycophancy.score,
        generate=sycophancy.generate,
    )


def _pressure() -> Suite:
    from valuesfirst.evals import pressure

    metrics = ("held_all", *(f"held_turn_{k}" for k in range(1, pressure.TURNS + 1)))
    return Suite(
        "pressure", metrics, lambda o: pressure.items(o.items), pressure.score, pressure.make_judge,
        generate=pressure.generate,
    )  # fmt: skip


def _jailbreak() -> Suite:
    from valuesfirst.evals import pressure

    return Suite(
        "jailbreak",
        ("held",),
        lambda o: pressure.jailbreak_items(o.items),
        pressure.score,
        pressure.make_judge,
    )


register("sycophancy", _sycophancy)
register("pressure", _pressure)
register("jailbreak", _jailbreak)
