"""Shared fixtures of the seufit test suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Every array in this suite is tiny: BLAS worker threads only add spin-waiting, which on a
# loaded 2-core machine made the brute-force references ten times slower.  Must be set
# before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Make ``import reference`` work from every test module, whatever the rootdir.
sys.path.insert(0, str(Path(__file__).parent))

EXAMPLES = ("cic_mpa_stubs", "mle_article", "bootstrap_article")


def write_csv(folder: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``folder / name`` and return the path.

    Parameters
    ----------
    folder : pathlib.Path
        Target folder (usually ``tmp_path``).
    name : str
        File name.
    text : str
        File content, written as UTF-8.

    Returns
    -------
    pathlib.Path
    """
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def csv_file(tmp_path):
    """Factory fixture: ``csv_file(text, name="data.csv") -> Path``."""

    def make(text: str, name: str = "data.csv") -> Path:
        return write_csv(tmp_path, name, text)

    return make


@pytest.fixture
def rng():
    """A fixed-seed numpy Generator."""
    return np.random.default_rng(20240611)
