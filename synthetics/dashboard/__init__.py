"""`synthetics report`: the history as an offline HTML dashboard and report.json (contract)."""

from synthetics.dashboard.report import SCHEMA, Report, build

__all__ = ["SCHEMA", "Report", "build"]
