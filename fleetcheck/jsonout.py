"""The machine-readable (``--format json``) output shared by the listing commands.

One rule for every command: keys are English and fixed, whatever ``--lang`` is;
a value that is user text is a ``{"zh": ..., "en": ...}`` object (both
languages, so the output is byte-identical for ``--lang zh`` and ``--lang en``);
times are ISO 8601 with their UTC offset (``2026-12-01T08:00:00+00:00``).
Each output has a JSON Schema in ``reports_templates/<name>.schema.json``.
"""

from __future__ import annotations

import json

import click

from fleetcheck.i18n import Text
from fleetcheck.store.values import iso_utc  # the store's rule: UTC, naive = UTC

__all__ = ["echo_json", "iso_utc", "text_json"]


def text_json(text: Text) -> dict[str, str]:
    """User text as ``{"zh", "en"}``."""
    return {"zh": text.zh, "en": text.en}


def echo_json(data: object) -> None:
    """Print ``data`` as indented UTF-8 JSON on stdout."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))
