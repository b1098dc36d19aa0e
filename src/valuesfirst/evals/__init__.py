"""Evaluation: probes, scoring and the statistics that turn scores into claims."""
