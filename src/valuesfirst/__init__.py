"""valuesfirst: values-first alignment training (Model Spec Midtraining, then AFT)."""

__version__ = "0.1.0"
