"""Hyper-parameter and configuration search (``nkl optim``, ``nkl flags``), scored on dev or speaker folds of the
training data, never on test."""
