"""What an MSM corpus costs per million tokens on every backend valuesfirst can price: the README's table,
computed from the code (``llm/pricing.py``'s built-in prices and ``generate --preview``'s projection),
never typed in by hand.

"Corpus tokens" are the documents' output tokens. Every other token is paid on the way: the prompts of
every level (the spec is in every system prompt) and the outline levels' answers (domains, subdomains,
assertions, document types, ideas). The projection is the default config's (5 x 5 x 5 x 5 = 625 documents,
max_tokens 5000, ``preview_output_fraction`` 0.6) on the spec given (default: the shipped
``real_cheese_affordability.yaml``). Batch: Anthropic's Message Batches (``--batch``), half price.

Usage: .venv/bin/python benchmarks/generation_cost.py [SPEC]   (prints a markdown table; no call made)
"""

from __future__ import annotations

import sys
from pathlib import Path

from valuesfirst.generate.config import MidtrainGenConfig
from valuesfirst.generate.msm import msm_prompts
from valuesfirst.generate.preview import project_midtrain
from valuesfirst.llm.pricing import BUILTIN_PRICES, PRICES_AS_OF
from valuesfirst.spec import load_spec
from valuesfirst.spec_render import render

SPEC = Path(__file__).resolve().parents[1] / "src/valuesfirst/specs/real_cheese_affordability.yaml"
PAPER_TOKENS = 8_000_000  # the paper's MSM corpora: ~8M tokens per spec
BATCH_CAPABLE = ("claude-",)  # backends with a provider batch in valuesfirst (--batch): Anthropic


def main() -> None:
    spec_path = Path(sys.argv[1]) if len(sys.argv) > 1 else SPEC
    config = MidtrainGenConfig()
    spec_text = render(load_spec(spec_path), config.variant)
    levels = project_midtrain(config, msm_prompts(config), spec_text)
    total_in = sum(p.input_tokens for p in levels)
    total_out = sum(p.output_tokens for p in levels)
    corpus = next(p.output_tokens for p in levels if p.level == "documents")
    print(
        f"Projection ({spec_path.name}, default counts): {total_in:,} input + {total_out:,} output tokens "
        f"for {corpus:,} corpus tokens ({total_in / corpus:.2f} input and {total_out / corpus:.2f} output "
        f"tokens per corpus token). Prices: built-in table as of {PRICES_AS_OF}.\n"
    )
    columns = ["backend", "$/M input", "$/M output", "$ per M corpus tokens", "batch (`--batch`)"]
    print("| " + " | ".join([*columns, "8M-token corpus"]) + " |")
    print("|---|---|---|---|---|---|")
    for name, price in sorted(BUILTIN_PRICES.items(), key=lambda kv: kv[1].cost(total_in, total_out)):
        per_m = price.cost(total_in, total_out) / corpus * 1_000_000
        batch = f"${per_m / 2:,.2f}" if name.startswith(BATCH_CAPABLE) else "–"
        scheme = "anthropic" if name.startswith("claude-") else "openai"
        print(
            f"| `{scheme}:{name}` | ${price.input_per_mtok:g} | ${price.output_per_mtok:g} | ${per_m:,.2f} "
            f"| {batch} | ${per_m * PAPER_TOKENS / 1_000_000:,.0f} |"
        )


if __name__ == "__main__":
    main()
