"""``seufit fit``."""

from __future__ import annotations

import click

from .._io import write_json
from ..fit import fit
from . import cli
from .options import (
    cl_option,
    data_argument,
    distinct_outputs,
    json_option,
    read,
    tilt_option,
    zeros_option,
)


@cli.command("fit")
@data_argument
@zeros_option
@click.option("--variant", type=click.Choice(["auto", "standard", "small_sample", "with_zeros"]),
              default="auto", show_default=True, help="MLE variant (auto: the article's rule).")
@tilt_option
@cl_option
@click.option("--sided", type=click.Choice(["two-sided", "one-sided"]), default="two-sided",
              show_default=True, help="Sidedness of the zero-event upper limits.")
@click.option("--method", type=click.Choice(["newton", "lbfgsb"]), default="newton",
              show_default=True, help="lbfgsb: the articles' recipe, for comparison only.")
@json_option
def fit_command(data, zeros, variant, no_tilt, cl, sided, method, json_path):
    """Poisson maximum-likelihood Weibull fit of DATA."""
    distinct_outputs(data, json=json_path)
    d = read(data, no_tilt)
    res = fit(d, zeros=zeros, variant=variant, cl=cl, sided=sided, method=method)
    click.echo(str(res))
    if json_path:
        write_json(json_path, res.to_dict())
        click.echo(f"  JSON written to {json_path}")
