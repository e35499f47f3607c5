"""Estimates of speaker and signal characteristics (est_* columns) and applying saved models to new audio."""
