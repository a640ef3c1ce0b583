"""One module per `cdp` sub-command; see pipelines/cli.py."""
