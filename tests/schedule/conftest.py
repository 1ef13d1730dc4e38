"""Shared fixtures of the schedule tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def fake_crontab(tmp_path: Path) -> tuple[Path, Path]:
    """A crontab(1) stand-in: -l prints the stored table ("no crontab" when none), - stores stdin."""
    table = tmp_path / "crontab.txt"
    program = tmp_path / "crontab"
    program.write_text(
        "#!/bin/sh\n"
        f'TABLE="{table}"\n'
        'if [ "$1" = "-l" ]; then\n'
        '  if [ -f "$TABLE" ]; then cat "$TABLE"; exit 0; fi\n'
        '  echo "no crontab for $(id -un)" >&2; exit 1\n'
        'elif [ "$1" = "-" ]; then cat > "$TABLE"; exit 0; fi\n'
        "exit 2\n",
        encoding="utf-8",
    )
    program.chmod(0o755)
    return program, table
