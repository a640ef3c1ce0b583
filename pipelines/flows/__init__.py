"""Prefect flows: thin recipes over plain functions in connectors/, identity/, profiles/."""
