"""Compliance reports: pure view models (:mod:`.model`) and renderers (:mod:`.render`)."""

from fleetcheck.report.model import REPORT_SCHEMA, ReportModel, TrendPoint, build_report

__all__ = ["REPORT_SCHEMA", "ReportModel", "TrendPoint", "build_report"]
