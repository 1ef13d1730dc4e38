"""fleetcheck: keep a whole office of trading PCs ready for the SCCC certificate renewal."""

__version__ = "0.1.0"
