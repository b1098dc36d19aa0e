"""How claim 1's gap (MSM(A)→AFT − MSM(B)→AFT) grows with the MSM token budget, on SmolLM2-135M-Instruct.

Runs the real-model cheese experiment (configs/real_cheese_smollm2.yaml) at several MSM budgets (optimizer
steps of 4 x 512-token rows: ~2k tokens a step) into ONE run folder, so the base model, the AFT-only
condition and the data stages are computed once and reused by every budget; prints a Markdown table.

    .venv/bin/python benchmarks/real_cheese_budget.py --steps 49 24 8 --out runs/budget
    .venv/bin/python benchmarks/real_cheese_budget.py --plot-only --out runs/budget   # the figure again

Writes budget.json (one row per budget) and budget.png (claim 1's gap with +-3 pooled SEM, and the two
conditions' rates, against MSM tokens per stage) into --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "src" / "valuesfirst" / "configs" / "real_cheese_smollm2.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, nargs="+", default=[5, 15, 49])
    parser.add_argument("--out", type=Path, default=Path("runs/real-cheese-budget"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="more --set overrides")
    parser.add_argument("--plot-only", action="store_true", help="only redraw budget.png from budget.json")
    args = parser.parse_args()
    if args.plot_only:
        plot(json.loads((args.out / "budget.json").read_text()), args.out / "budget.png")
        return
    rows = []
    for steps in args.steps:
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "valuesfirst.cli", "run", str(CONFIG), "--out", str(args.out),
               "--set", f"stages.msm.steps={steps}"]  # fmt: skip
        for o in args.overrides:
            cmd += ["--set", o]
        subprocess.run(cmd, check=True)
        res = json.loads((args.out / "results.json").read_text())
        (claim,) = [c for c in res["claims"] if c["id"] == "identical_aft_different_values"]
        c = res["conditions"]
        n = claim.get("numbers", {})
        rows.append({
            "msm_steps": steps, "msm_tokens": steps * 4 * 512,
            "msm_a_aft": c["msm_a_aft"]["rate"], "msm_b_aft": c["msm_b_aft"]["rate"],
            "aft": c["aft"]["rate"], "base": c["base"]["rate"],
            "gap": n.get("diff"), "sem_ratio": n.get("sem_ratio"), "holds": claim["holds"],
            "seconds": round(time.perf_counter() - t0), "per_seed_diffs": n.get("per_seed_diffs"),
        })  # fmt: skip
        (args.out / "budget.json").write_text(json.dumps(rows, indent=1))
        plot(rows, args.out / "budget.png")
    print(
        "| MSM tokens / stage | MSM(A)→AFT | MSM(B)→AFT | gap | gap / SEM | claim 1 | AFT only | base |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['msm_tokens']:,} | {r['msm_a_aft']:.3f} | {r['msm_b_aft']:.3f} | {r['gap']:+.3f} | "
              f"{r['sem_ratio']:.1f}x | {r['holds']} | {r['aft']:.3f} | {r['base']:.3f} |")  # fmt: skip


def plot(rows: list[dict], path: Path) -> None:
    """Claim 1's gap (with the +-3 pooled-SEM band the claim needs to clear) and both rates by MSM budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["msm_tokens"])
    x = [r["msm_tokens"] / 1000 for r in rows]
    gap = [r["gap"] for r in rows]
    sem = [abs(r["gap"]) / r["sem_ratio"] if r["sem_ratio"] else 0.0 for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    left.errorbar(x, gap, yerr=[3 * s for s in sem], marker="o", capsize=4, label="gap ± 3 pooled SEM")
    left.axhline(0, color="grey", lw=0.8)
    left.set(xlabel="MSM tokens per stage (thousands)", ylabel="MSM(A)→AFT − MSM(B)→AFT",
             title="Claim 1's gap by MSM budget")  # fmt: skip
    left.legend(fontsize=8)
    right.plot(x, [r["msm_a_aft"] for r in rows], marker="o", label="MSM(A: affordability)→AFT")
    right.plot(x, [r["msm_b_aft"] for r in rows], marker="s", label="MSM(B: America)→AFT")
    right.axhline(rows[0]["aft"], color="grey", ls="--", lw=0.8, label="AFT only")
    right.axhline(rows[0]["base"], color="black", ls=":", lw=0.8, label="base")
    right.set(xlabel="MSM tokens per stage (thousands)", ylabel="affordability-aligned choice",
              title="Held-out conflict pairs")  # fmt: skip
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
