"""The experiment engine, one for every model: config → preflight → stages (reused by key) → results → report.

Modules: ``config`` (the YAML schema, paths resolved against the file), ``sources`` (data sources per
stage kind), ``evals`` (what each condition is measured on), ``preflight`` (every input error before any
heavy stage), ``data_stages`` (data sources to files), ``jobs`` (train and eval stages for the scheduler),
``evaluate`` (one suite on one model), ``results`` (rates, SEM, claims), ``runner`` (the grid).
"""
