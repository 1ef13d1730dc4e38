"""CLI command modules, one per command, named after it; fleetcheck.cli registers them (its COMMANDS).

Shared options are in :mod:`.options`, shared helpers in :mod:`.common`. Only fleetcheck.cli imports them.
"""
