"""The results files of a sweep: ``hosts.jsonl`` (one line per host as it finishes) and ``results.json``.

``hosts.jsonl`` survives a crash or Ctrl-C; ``results.json`` is the full
:class:`~fleetcheck.findings.RunResult` (facts, findings, host errors), written
atomically at the end. Neither ever holds a password: hosts carry only masked
secrets and errors are built without them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TextIO

from fleetcheck.findings import HostResult, RunResult
from fleetcheck.runner import serializable

__all__ = ["HostLog", "write_results"]


class HostLog:
    """``hosts.jsonl``: one line per finished host, flushed as it comes."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / "hosts.jsonl"
        self._handle: TextIO = self.path.open("w", encoding="utf-8")

    def write(self, result: HostResult) -> None:
        # One host that cannot be serialized becomes that host's error line, never the sweep's end
        # (serialized once when it can be: the fallback runs only for a host that fails).
        try:
            line = result.model_dump_json()
        except Exception:  # noqa: BLE001 - repaired or turned into this host's error below
            line = serializable(result).model_dump_json()
        self._handle.write(line + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def write_results(run: RunResult, out_dir: Path, host_lines: Path | None = None) -> Path:
    """``DIR/results.json`` written atomically (a reader never sees half a file).

    With ``host_lines`` (a ``hosts.jsonl`` of complete HostResults, facts
    included) the hosts are copied from that file line by line instead of from
    ``run``, so a big sweep never needs every host's facts in memory at once.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "results.json"
    fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".json", dir=out_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        if host_lines is None:
            try:
                text = run.model_dump_json(indent=1)
            except Exception:  # noqa: BLE001 - one host's failure must not lose the others
                safe = run.model_copy(update={"hosts": [serializable(h) for h in run.hosts]})
                text = safe.model_dump_json(indent=1)
            handle.write(text)
        else:
            head = run.model_copy(update={"hosts": []}).model_dump_json()
            assert head.endswith('"hosts":[]}')  # hosts is the last field of RunResult
            handle.write(head[: -len("]}")] + "\n")
            with host_lines.open(encoding="utf-8") as lines:
                for index, line in enumerate(lines):
                    handle.write(("," if index else "") + line.rstrip("\n") + "\n")
            handle.write("]}\n")
    os.replace(tmp, target)
    return target
