"""`reviewkit sample`: write the sample company's exports."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=".",
    help="Project directory; exports go to DIR/data.",
)
@click.option(
    "--seed",
    # numpy's SeedSequence takes any integer of 0 or more; refused here, a negative seed is a
    # usage error rather than generate()'s ValueError traceback.
    type=click.IntRange(min=0),
    default=7,
    show_default=True,
    help="Random seed: an integer, 0 or more.",
)
@click.option(
    "--scale",
    type=click.IntRange(min=1),
    default=None,
    help="Rows of the support-ticket export (e.g. 10000000 for benchmarks); also "
    "writes it as Parquet.",
)
def sample(directory: Path, seed: int, scale: int | None) -> None:
    """Generate the sample company (Northwind Cloud): deterministic exports in several formats."""
    from reviewkit.scaffold.sample import generate  # noqa: PLC0415 (keep --help fast)

    for path in generate(directory, seed=seed, scale=scale):
        click.echo(f"wrote {path}")
