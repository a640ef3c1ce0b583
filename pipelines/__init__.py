"""Prefect flows and the `cdp` command line. Nothing imports this package."""
