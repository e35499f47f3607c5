"""``nkl explore``: data exploration and bias analysis on the catalog (tests in SQL + scipy, importance, scatter, plots)."""

from nkl.explore.run import ExploreResult, explore

__all__ = ["ExploreResult", "explore"]
