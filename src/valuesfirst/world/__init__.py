"""The embedded synthetic world: a data source and a model source for offline, CPU-sized experiments.

It emits the same artifacts that LLM generation emits for real models (pre-training text, MSM documents,
AFT chats, evaluation items), so the same trainer, evaluator and report consume them.
"""
