"""The catalog: Parquet tables (the record), a DuckDB file of views (the index), atomic writes."""

from nkl.catalog.catalog import Catalog, connect
from nkl.catalog.workspace import Workspace

__all__ = ["Catalog", "Workspace", "connect"]
