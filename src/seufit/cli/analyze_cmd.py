"""``seufit analyze``: the whole method in one command, with checks, figures and a report."""

from __future__ import annotations

import shlex
import time

import click

from ..analysis import DEFAULT_SWEEP, analyze
from ..report.writer import ReportError, write_report
from . import cli
from .options import (
    MAX_SWEEP,
    cl_option,
    data_argument,
    jobs_option,
    n_boot_zero_or_range,
    output_dir,
    read,
    seed_option,
    tilt_option,
)


def _command_line(ctx: click.Context) -> str:
    """The command as given on the command line, rebuilt from the parsed parameters.

    Every parameter the user set (not the defaults) appears once, in its long
    spelling, quoted for a POSIX shell.
    """
    from click.core import ParameterSource

    args: list[str] = []
    opts: list[str] = []
    for p in ctx.command.params:
        src = ctx.get_parameter_source(p.name)
        if src not in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            continue
        value = ctx.params[p.name]
        if isinstance(p, click.Argument):
            args.append(str(value))
            continue
        longest = max(p.opts, key=len)
        if p.is_flag and p.secondary_opts:
            opts.append(longest if value else max(p.secondary_opts, key=len))
        elif p.is_flag:
            opts.append(longest)
        else:
            opts += [longest, str(value)]
    name = ctx.info_name or "analyze"
    return "seufit " + shlex.join([name, *args, *opts])


@cli.command("analyze")
@data_argument
@click.option("-o", "--output", "output", required=True, type=click.Path(), callback=output_dir,
              help="Report directory (created; an earlier seufit report there is replaced).")
@seed_option
@jobs_option
@click.option("--n-boot", "n_boot", type=int, default=None, callback=n_boot_zero_or_range,
              help="Bootstrap replicates (default: 10,000 full / 20,000 conservative by the "
                   "bootstrap article's rule); 0: no bootstrap.")
@click.option("--zeros", type=click.Choice(["auto", "exclude", "include"]), default="exclude",
              show_default=True,
              help="Zero-event runs: exclude (articles' default) leaves them out as upper "
                   "limits; include keeps them in the likelihood; auto includes them when they "
                   "lie above the lowest LET with events or contradict the curve.")
@cl_option
@click.option("--variant", type=click.Choice(["auto", "standard", "small_sample", "with_zeros"]),
              default="auto", show_default=True, help="MLE variant (auto: the MLE article's rule).")
@click.option("--config", type=click.Choice(["auto", "full", "conservative"]), default="auto",
              show_default=True, help="Bootstrap configuration (auto: the bootstrap article's "
                                      "rule).")
@click.option("--ci", type=click.Choice(["auto", "guarded", "wald", "percentile", "bca",
                                        "profile"]),
              default="auto", show_default=True,
              help="Interval to quote (auto: the decision rule; guarded: the same, but "
                   "percentile instead of BCa with a parameter on a bound); every one is "
                   "reported.")
@click.option("--gof", type=click.Choice(["auto", "on", "off"]), default="auto",
              show_default=True, help="Judge the goodness of fit (auto: when dof >= 3).")
@click.option("--curve", type=click.Choice(["auto", "on", "off"]), default="auto",
              show_default=True,
              help="Fit a curve (auto: >= 4 runs with events and >= 0.1 events per run) or give "
                   "upper limits only.")
@click.option("--no-profile", "no_profile", is_flag=True,
              help="Skip the profile likelihood (and the sweep, which needs it).")
@click.option("--n-sweep", "n_sweep", type=click.IntRange(min=0, max=MAX_SWEEP),
              default=DEFAULT_SWEEP,
              show_default=True, help="Samples of the fmin + Delta sweep; 0: no sweep.")
@tilt_option
@click.option("--sided", type=click.Choice(["two-sided", "one-sided"]), default="two-sided",
              show_default=True,
              help="Sidedness of the zero-event upper limits (95 %: 3.69/fluence two-sided, "
                   "3.00/fluence one-sided).")
@click.option("--progress/--no-progress", default=None,
              help="Bootstrap progress bar (default: only on a terminal).")
@click.option("-q", "--quiet", is_flag=True, help="Print only where the report was written.")
@click.pass_context
def analyze_command(ctx, data, output, seed, jobs, n_boot, zeros, cl, variant, config, ci, gof,
                    curve, no_profile, n_sweep, no_tilt, sided, progress, quiet):
    """Analyse DATA end to end and write a report directory.

    Pre-fit checks, the decision tree (every choice with its reason, each
    overridable by an option), the Poisson MLE, the parametric bootstrap, the
    profile likelihood and the fmin + Delta sweep, goodness of fit, post-fit
    checks, figures (PNG and SVG) and report.html / report.json, written
    atomically to OUTPUT.  The same --seed reproduces report.json exactly.
    """
    t0 = time.perf_counter()
    d = read(data, no_tilt)
    res = analyze(d, seed=seed, n_boot=n_boot, jobs=jobs, zeros=zeros, cl=cl, variant=variant,
                  config=config, ci=ci, gof=gof, curve=curve, profile=not no_profile,
                  n_sweep=n_sweep, tilt=not no_tilt, progress=progress, sided=sided)
    t1 = time.perf_counter()
    try:
        out = write_report(res, output, command=_command_line(ctx))
    except ReportError as exc:
        raise click.UsageError(str(exc)) from None
    t2 = time.perf_counter()
    if not quiet:
        click.echo(str(res))
    st, _ = res.verdict()
    click.echo(f"report written to {out}/ (report.html, report.json, figures/) -- {st}; "
               f"seed {res.seed}; analysis {t1 - t0:.2f} s, report {t2 - t1:.2f} s")
