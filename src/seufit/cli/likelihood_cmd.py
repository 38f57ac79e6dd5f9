"""``seufit profile`` and ``seufit sweep``: likelihood intervals from the command line."""

from __future__ import annotations

import click

from .._io import write_json
from ..fit import fit
from . import cli
from .options import (
    MAX_SWEEP,
    cl_option,
    data_argument,
    distinct_outputs,
    fit_context,
    json_option,
    output_file,
    read,
    seed_option,
    tilt_option,
    with_fit_messages,
    zeros_option,
)

# matplotlib's own formats (Agg backend), checked before any work.
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".eps", ".ps", ".jpg", ".jpeg", ".tif",
                   ".tiff", ".webp", ".pgf", ".raw", ".rgba")
plot_option = click.option("--plot", "plot_path", type=click.Path(),
                           callback=output_file(FIGURE_SUFFIXES),
                           help="Write a figure to this file (png, pdf, svg, ...).")


def _check_pair(ctx, param, value):
    """Two different Weibull parameters, checked before any work."""
    if value is None:
        return value
    from ..models import WEIBULL4

    names = WEIBULL4.names
    if any(q not in names for q in value) or value[0] == value[1]:
        raise click.BadParameter(f"must name two different parameters of {', '.join(names)} "
                                 f"(got {' '.join(value)})")
    return value


def _fitted(data, zeros, no_tilt, cl):
    res = fit(read(data, no_tilt), zeros=zeros, cl=cl)
    if not res.fitted:
        raise click.UsageError(f"no curve can be fitted: {res.variant_reason} (seufit fit "
                               "gives them, and the limits pooled over the runs)")
    return res


@cli.command("profile")
@data_argument
@cl_option
@zeros_option
@tilt_option
@json_option
@plot_option
def profile_command(data, cl, zeros, no_tilt, json_path, plot_path):
    """Profile-likelihood interval of every Weibull parameter of DATA (as MINOS).

    The interval of a parameter is where the NLL, minimised over the others,
    stays within z^2/2 of its minimum (1.92 at 95 %).
    """
    from ..uncertainty.profile import profile

    distinct_outputs(data, json=json_path, plot=plot_path)
    fr = _fitted(data, zeros, no_tilt, cl)
    res = profile(fr, cl)
    click.echo("\n".join(fit_context(fr)))
    click.echo(str(res))
    if json_path:
        write_json(json_path, with_fit_messages(res.to_dict(), fr))
        click.echo(f"  JSON written to {json_path}")
    if plot_path:
        from ..report.likelihood_plots import plot_profile

        plot_profile(res, plot_path)
        click.echo(f"  figure written to {plot_path}")


@cli.command("sweep")
@data_argument
@click.option("-n", "n", type=click.IntRange(min=1, max=MAX_SWEEP), default=1_000_000,
              show_default=True,
              help="Number of sampled parameter vectors.")
@click.option("--method", type=click.Choice(["uniform", "lhs"]), default="uniform",
              show_default=True, help="Uniform random or Latin-hypercube sampling.")
@click.option("--statistic", type=click.Choice(["poisson", "ls", "pearson", "negbin"]),
              default="poisson", show_default=True,
              help="Statistic on the NLL scale (ls: least squares / 2 sigma^2; pearson: "
                   "chi2 / 2; negbin: negative binomial, dispersion fitted).")
@cl_option
@seed_option
@click.option("--box", type=click.Choice(["profile", "bounds"]), default="profile",
              show_default=True,
              help="Sampling box: profile intervals widened by 10 % per side, or fit bounds.")
@zeros_option
@tilt_option
@click.option("--csv", "csv_path", type=click.Path(), callback=output_file(),
              help="Write every sample (parameters, statistic, delta) to this CSV file.")
@json_option
@plot_option
@click.option("--pair", nargs=2, type=str, default=None, callback=_check_pair,
              help="Add the two-parameter surface of these parameters to the figure "
                   "(needs --plot).")
def sweep_command(data, n, method, statistic, cl, seed, box, zeros, no_tilt, csv_path,
                  json_path, plot_path, pair):
    """Monte Carlo "fmin + 1/2" sweep of DATA: intervals read off the envelope.

    Samples N parameter vectors in a box and keeps, per parameter, the range of
    the samples within z^2/2 of the minimum (1/2 for one sigma, 1.92 at 95 %).
    """
    import warnings

    from ..uncertainty.sweep import sweep

    if pair and not plot_path:
        raise click.UsageError("--pair draws on the figure: give --plot PATH too")
    distinct_outputs(data, csv=csv_path, json=json_path, plot=plot_path)
    res_fit = _fitted(data, zeros, no_tilt, cl)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the same text is printed as a note below
        res = sweep(res_fit, n, method=method, statistic=statistic, cl=cl, seed=seed, box=box)
    click.echo("\n".join(fit_context(res_fit)))
    click.echo(str(res))
    if csv_path:
        res.to_csv(csv_path)
        click.echo(f"  CSV written to {csv_path}")
    if json_path:
        write_json(json_path, with_fit_messages(res.to_dict(), res_fit))
        click.echo(f"  JSON written to {json_path}")
    if plot_path:
        from ..report.likelihood_plots import plot_sweep

        plot_sweep(res, plot_path, pair=tuple(pair) if pair else None)
        click.echo(f"  figure written to {plot_path}")
