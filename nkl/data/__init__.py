"""Data: importers (CSV, audformat), the samples table, filters and split strategies."""

from nkl.data.filters import apply_filters, prepare_target
from nkl.data.load import load_databases
from nkl.data.samples import import_database
from nkl.data.splits import assign_splits

__all__ = ["apply_filters", "assign_splits", "import_database", "load_databases", "prepare_target"]
