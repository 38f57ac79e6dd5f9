"""The ``seufit`` command line.

Exit codes: 0 success, 2 bad input or usage (one line on stderr), 1 internal error.
Set ``SEUFIT_DEBUG=1`` to get the traceback of an internal error.
"""

from __future__ import annotations

import os
import sys
import traceback

import click
import numpy as np

from ..data import DataError

__all__ = ["main", "cli"]


class _Group(click.Group):
    """Turns DataError and option errors into one-line messages and exit code 2."""

    def invoke(self, ctx):
        try:
            # Floating-point warnings (an overflow in a trial step, a log of 0 masked
            # afterwards) are handled where they arise; on stderr they would bury the one
            # line a user reads.
            with np.errstate(all="ignore"):
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException,
                BrokenPipeError):
            raise
        except DataError as exc:
            click.echo(f"seufit: error: {exc}", err=True)
            ctx.exit(2)
        except np.linalg.LinAlgError as exc:  # a ValueError, but ours, not the user's
            _internal_error(ctx, exc)
        except ValueError as exc:
            click.echo(f"seufit: error: {exc}", err=True)
            ctx.exit(2)
        except MemoryError:
            click.echo("seufit: error: not enough memory for this run (with -n / --n-boot /"
                       " --n-sweep: ask for fewer replicates or samples)", err=True)
            ctx.exit(2)
        except OSError as exc:
            # A file the command was told to read or write (permissions, a full disk):
            # the user's environment, not a bug of ours.
            where = "".join(f": {n}" for n in (exc.filename, exc.filename2) if n)
            click.echo(f"seufit: error: {exc.strerror or exc}{where}", err=True)
            ctx.exit(2)
        except Exception as exc:  # noqa: BLE001 - last line of defence of a CLI
            _internal_error(ctx, exc)


def _internal_error(ctx, exc: BaseException) -> None:
    """One line and exit code 1 for a bug of ours (the traceback with SEUFIT_DEBUG=1)."""
    if os.environ.get("SEUFIT_DEBUG"):
        traceback.print_exc()
    msg = str(exc).splitlines()[0] if str(exc) else ""
    click.echo(f"seufit: internal error: {type(exc).__name__}: {msg} "
               "(set SEUFIT_DEBUG=1 for the traceback)", err=True)
    ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seufit")
def cli() -> None:
    """seufit: Poisson maximum-likelihood Weibull fits of SEU cross-sections.

    DATA is a CSV file (columns let, fluence, events; optional angle, bits, ion,
    run, device) or a bundled example: example:cic_mpa_stubs,
    example:mle_article, example:bootstrap_article.
    """


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code instead of raising SystemExit."""
    try:
        # Without standalone mode, click returns the code of an Exit instead of raising it.
        rv = cli.main(args=argv, prog_name="seufit", standalone_mode=False)
        if isinstance(rv, int):
            return rv
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:
        # One line, like every other error: no usage block.
        msg = " ".join(exc.format_message().split())
        ctx = getattr(exc, "ctx", None)
        where = f" (see 'seufit {ctx.info_name} --help')" if ctx is not None and ctx.parent else ""
        click.echo(f"seufit: error: {msg}{where}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    return 0


def run() -> None:  # console script
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # output piped into e.g. `head`: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


from . import (  # noqa: E402,F401  (register the commands)
    analyze_cmd,
    bootstrap_cmd,
    fit_cmd,
    likelihood_cmd,
)
