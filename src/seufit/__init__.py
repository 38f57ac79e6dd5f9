"""seufit: defensible SEU cross-section fits from heavy-ion test data.

Poisson maximum likelihood for the 4-parameter Weibull curve, with honest
uncertainty (Hessian, parametric bootstrap, profile likelihood, likelihood
sweeps), diagnostics and reports, reproducible from a seed.
"""

from importlib import metadata as _metadata

from .analysis import Analysis, analyze
from .data import DataError, TestData, example_names, example_path, load
from .fit import FitResult, fit
from .limits import envelope_limits, garwood_interval, upper_limit
from .models import WEIBULL4, Model, UserModel, Weibull4
from .uncertainty.bootstrap import BootstrapResult, bootstrap, load_bootstrap
from .uncertainty.profile import ProfileResult, profile
from .uncertainty.sweep import SweepResult, sweep

try:
    __version__ = _metadata.version("seufit")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "DataError", "TestData", "load", "example_names", "example_path", "fit", "FitResult",
    "garwood_interval", "upper_limit", "envelope_limits", "bootstrap", "BootstrapResult",
    "load_bootstrap",
    "profile", "ProfileResult", "sweep", "SweepResult", "analyze", "Analysis",
    "Model", "UserModel", "Weibull4", "WEIBULL4",
    "__version__",
]
