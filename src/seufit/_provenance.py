"""What a result needs to be reproduced: versions, input hash, options, seed."""

from __future__ import annotations

import platform
from functools import cache
from importlib import metadata

__all__ = ["versions", "provenance"]


@cache  # reading package metadata costs milliseconds each time
def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """Versions of seufit, Python and the numerical libraries."""
    return {
        "seufit": _version("seufit"),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "pandas": _version("pandas"),
        "numba": _version("numba"),
    }


def _solver(model=None) -> str:
    # Which solver path ran: the compiled kernels and the NumPy path agree to the
    # convergence tolerance, not bit for bit, so a record says which one it was.
    from .optimize import backend_name

    return backend_name(model)


def provenance(data, options: dict, seed: int | None = None, *, model=None,
               solver: str | None = None) -> dict:
    """Provenance block: no timestamp, so that the same inputs give the same record.

    ``solver``: the solver path that ran; default the path of Poisson fits of ``model``.
    """
    out = {
        "package": "seufit",
        "version": _version("seufit"),
        "versions": versions(),
        "input": data.source,
        "input_sha256": data.sha256,
        "options": dict(options),
        "solver": solver if solver is not None else _solver(model),
    }
    if seed is not None:
        out["seed"] = seed
    return out


def fit_options(fit_result) -> dict:
    """The fit's own options, prefixed ``fit_`` (zeros, tilt, bounds, ...): what the
    bootstrap, profile and sweep intervals are of."""
    opts = getattr(fit_result, "provenance", {}).get("options", {})
    return {f"fit_{k}": v for k, v in opts.items()}


def zeros_clause(prov: dict) -> str:
    """``", zeros=exclude"`` (or include) from a result's provenance, for text headers;
    empty when the fit's zero policy is not recorded (a user model's fit, say)."""
    z = prov.get("options", {}).get("fit_zeros")
    return f", zeros={z}" if z else ""
