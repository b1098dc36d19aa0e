"""Data generation: MSM documents, AFT demonstrations, data-quality passes."""
