"""CLI command modules; each defines ``register(main)``. Only fleetcheck.cli imports them."""
