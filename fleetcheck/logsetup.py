"""How much the command line says: ``-q/--quiet`` and ``-v/--verbose``, on standard :mod:`logging`.

``fleetcheck`` configures logging once, in the root command (``cli.main``):
the ``fleetcheck`` logger gets one handler that writes to stderr (the stream
current at each record, so it follows ``sys.stderr`` when it is replaced), at

=============  ===========  =====================================================
options        level        what a command prints
=============  ===========  =====================================================
``-q``         ERROR        only errors and a command's closing line
(none)         WARNING      the usual output; warnings
``-v``         INFO         and what the library logs about its work
``-vv``        DEBUG        and debugging detail (with the logger's name)
=============  ===========  =====================================================

A record carrying a bilingual ``text`` (``log.warning("%s", text.en,
extra={"text": text})``) is printed in the ``--lang`` language; others as
logged. Tracebacks of logged exceptions are printed from ``-v`` on (at the
default level only the message: the details are for whoever asks for them).
Library users configure logging themselves: nothing here runs on import.
"""

from __future__ import annotations

import logging

import click

from fleetcheck.i18n import Lang, T, Text

__all__ = ["QUIET", "configure_logging", "is_quiet", "level_for", "log_text", "verbosity"]

QUIET = -1  # the verbosity of -q

_LEVEL_LABELS = {
    logging.DEBUG: T("调试", "debug"),
    logging.INFO: T("信息", "info"),
    logging.WARNING: T("警告", "warning"),
    logging.ERROR: T("错误", "error"),
    logging.CRITICAL: T("严重错误", "critical"),
}


def level_for(verbosity: int) -> int:
    """The logging level of a verbosity: -1 (``-q``) ERROR, 0 WARNING, 1 INFO, 2 or more DEBUG."""
    if verbosity <= QUIET:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)


def log_text(logger: logging.Logger, level: int, text: Text) -> None:
    """Log a bilingual message: printed in ``--lang`` by the CLI's handler, English elsewhere."""
    logger.log(level, "%s", text.en, extra={"text": text})


class _Formatter(logging.Formatter):
    def __init__(self, lang: Lang, verbosity: int) -> None:
        super().__init__()
        self.lang = lang
        self.verbosity = verbosity

    def format(self, record: logging.LogRecord) -> str:
        text = getattr(record, "text", None)
        message = text.get(self.lang) if isinstance(text, Text) else record.getMessage()
        label = _LEVEL_LABELS.get(record.levelno, T(record.levelname, record.levelname)).get(self.lang)
        where = f" [{record.name}]" if self.verbosity >= 2 else ""
        line = f"{label}{where}: {message}"
        if record.exc_info and self.verbosity >= 1:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _StderrHandler(logging.Handler):
    """Writes each record to the ``sys.stderr`` of the moment (Click's test runner replaces it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except (OSError, ValueError, TypeError):  # a closed stream, an encoding, bad %-arguments:
            # logging must never break the command; report it the logging way
            self.handleError(record)


_handler: _StderrHandler | None = None


def configure_logging(verbosity: int, lang: Lang) -> None:
    """Set the ``fleetcheck`` logger's level and its one stderr handler (again: replaced, not added)."""
    global _handler  # noqa: PLW0603 - the one handler this module installs, replaced on each call
    logger = logging.getLogger("fleetcheck")
    if _handler is not None:
        logger.removeHandler(_handler)
    _handler = _StderrHandler()
    _handler.setFormatter(_Formatter(lang, verbosity))
    logger.addHandler(_handler)
    logger.setLevel(level_for(verbosity))


def verbosity(ctx: click.Context | None = None) -> int:
    """The verbosity the root command was given (0 when there is none, e.g. a command run on its own)."""
    ctx = ctx or click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and "verbosity" in ctx.obj:
            return int(ctx.obj["verbosity"])
        ctx = ctx.parent
    return 0


def is_quiet(ctx: click.Context | None = None) -> bool:
    """Whether ``-q`` was given: print only errors and the closing line."""
    return verbosity(ctx) <= QUIET
