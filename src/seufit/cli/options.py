"""Options shared by several commands."""

from __future__ import annotations

import click

from ..data import load

data_argument = click.argument("data", metavar="DATA")
zeros_option = click.option(
    "--zeros", type=click.Choice(["exclude", "include"]), default="exclude", show_default=True,
    help="Zero-event runs: left out and reported as upper limits, or kept in the likelihood.")
cl_option = click.option(
    "--cl", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
    show_default=True, help="Confidence level.")
tilt_option = click.option(
    "--no-tilt", "no_tilt", is_flag=True,
    help="Do not apply the tilt correction (LET/cos, fluence*cos).")
json_option = click.option("--json", "json_path", type=click.Path(dir_okay=False),
                           help="Write the result as JSON to this file.")
seed_option = click.option(
    "--seed", type=click.IntRange(min=0), default=None,
    help="Seed of every random draw; a fresh one is drawn and recorded when omitted.")
jobs_option = click.option(
    "--jobs", type=int, default=1, show_default=True,
    help="Parallel workers of the bootstrap (-1: all cores); results are identical for any value.")


def read(data: str, no_tilt: bool):
    return load(data, tilt=not no_tilt)
