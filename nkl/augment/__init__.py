"""Augmented audio (`nkl augment`)."""
