"""``llr``: the command line of the platform (typer + rich)."""
