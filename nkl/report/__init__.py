"""Reports: Quarto documents filled from the catalog, rendered to PDF and HTML without LaTeX.

``experiment_report`` and ``workspace_report`` gather what the catalog holds (nothing is
recomputed), write the sections and charts next to a copy of a template from ``reports/``, and
render it with Quarto when it is on PATH, else with Pandoc + Typst.
"""

from nkl.report.build import ReportOptions, ReportResult, experiment_report, workspace_report

__all__ = ["ReportOptions", "ReportResult", "experiment_report", "workspace_report"]
