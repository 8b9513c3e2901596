"""The `reviewkit` command line: a thin layer over the library."""

import click


@click.group()
def main() -> None:
    """reviewkit: monthly reviews about outcomes, from your KPI exports."""
