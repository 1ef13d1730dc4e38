"""Tests of the WS-Management simulator (server, faults, offices, sim serve)."""
