"""``seufit bootstrap``."""

from __future__ import annotations

import click

from .._io import write_json
from ..fit import fit
from ..uncertainty.bootstrap import bootstrap
from . import cli
from .options import (
    MAX_BOOT,
    cl_option,
    data_argument,
    distinct_outputs,
    fit_context,
    jobs_option,
    json_option,
    output_file,
    read,
    seed_option,
    tilt_option,
    with_fit_messages,
    zeros_option,
)


@cli.command("bootstrap")
@data_argument
@click.option("-n", "--n-boot", type=click.IntRange(min=20, max=MAX_BOOT), default=None,
              help="Replicates (default by the article's rule: 10,000 full, 20,000 "
                   "conservative).")
@seed_option
@jobs_option
@click.option("--config", type=click.Choice(["auto", "full", "conservative"]), default="auto",
              show_default=True, help="Bootstrap configuration (auto: the article's rule).")
@click.option("--ci", type=click.Choice(["auto", "guarded", "percentile", "bca"]),
              default="auto", show_default=True,
              help="Interval method (auto: BCa with >= 50 events and no zeros; guarded: the "
                   "same but percentile when a parameter is on a bound).")
@cl_option
@click.option("--acceleration", type=click.Choice(["regression", "influence"]),
              default="regression", show_default=True,
              help="Slopes behind BCa's acceleration: regression of the replicate estimates "
                   "on their counts, or derivatives at the MLE (where every parameter is "
                   "inside its box).")
@zeros_option
@tilt_option
@json_option
@click.option("--draws", "draws_path", type=click.Path(), callback=output_file((".npz",)),
              help="Archive the draws with seed, configuration and versions (NPZ; the "
                   "name must end in .npz).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar (default: only on a terminal).")
def bootstrap_command(data, n_boot, seed, jobs, config, ci, cl, acceleration, zeros, no_tilt,
                      json_path, draws_path, progress):
    """Parametric Poisson bootstrap of the maximum-likelihood fit of DATA."""
    distinct_outputs(data, json=json_path, draws=draws_path)
    d = read(data, no_tilt)
    fr = fit(d, zeros=zeros, cl=cl)
    if not fr.fitted:
        # Nothing to bootstrap: the answer is the zero-event upper limits.  Say so, and
        # still write what was asked for, so that no requested output goes missing unseen.
        click.echo(str(fr))
        reason = f"no bootstrap: no curve was fitted ({fr.variant_reason})"
        click.echo(f"  {reason}")
        if json_path:
            write_json(json_path, {**fr.to_dict(), "bootstrap": None,
                                   "bootstrap_reason": reason})
            click.echo(f"  JSON (the fit's; no bootstrap) written to {json_path}")
        if draws_path:
            click.echo(f"  no draws to archive: {draws_path} not written")
        raise click.exceptions.Exit(0)
    res = bootstrap(fr, n_boot=n_boot, seed=seed, config=config, ci=ci, cl=cl, jobs=jobs,
                    progress=progress, acceleration=acceleration)
    click.echo("\n".join(fit_context(fr)))
    click.echo(str(res))
    if json_path:
        write_json(json_path, with_fit_messages(res.to_dict(), fr))
        click.echo(f"  JSON written to {json_path}")
    if draws_path:
        res.save(draws_path)
        click.echo(f"  draws written to {draws_path}")
