"""Independent reference implementations for the seufit test suite.

Nothing here imports seufit: the Weibull cross-section, the Poisson NLL and the
brute-force optimiser are written again from the formulas of the MLE article, in
plain numpy and scipy, so that the tests compare two independent codes.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from scipy import optimize, stats

__all__ = [
    "weibull",
    "poisson_nll",
    "poisson_nll_grad",
    "brute_force_nll",
    "rule_box",
    "profiled_nll",
    "brute_force_profiled",
    "finite_diff_jacobian",
    "finite_diff_hessian",
    "poisson_upper_root",
    "poisson_lower_root",
    "simulate",
]


def weibull(x, sigma_sat, let_th, s, w):
    """Four-parameter Weibull cross-section for scalar parameters.

    Parameters
    ----------
    x : array_like
        LET values.
    sigma_sat, let_th, s, w : float
        Saturation cross-section, threshold, shape and width.

    Returns
    -------
    numpy.ndarray
        ``sigma_sat * (1 - exp(-((x - let_th) / w) ** s))`` above threshold, 0 below.
    """
    x = np.asarray(x, dtype=float)
    out = np.zeros_like(x)
    above = x > let_th
    z = ((x[above] - let_th) / w) ** s
    out[above] = sigma_sat * -np.expm1(-z)
    return out


def poisson_nll(theta, x, exposure, counts):
    """Poisson NLL ``sum(lambda - N log lambda)`` without the ``log N!`` term.

    Parameters
    ----------
    theta : sequence of 4 floats
        ``(sigma_sat, let_th, s, w)``.
    x, exposure, counts : array_like
        LET, exposure (fluence x bits) and observed counts per run.

    Returns
    -------
    float
        The NLL; a run with zero counts contributes ``lambda``; a run with
        counts and ``lambda == 0`` makes the NLL ``+inf``.
    """
    lam = weibull(x, *theta) * np.asarray(exposure, float)
    counts = np.asarray(counts, float)
    hit = counts > 0
    if np.any(lam[hit] <= 0):
        return np.inf
    return float(lam.sum() - np.sum(counts[hit] * np.log(lam[hit])))


def poisson_nll_grad(theta, x, exposure, counts):
    """Poisson NLL and its gradient, from the textbook derivatives of the Weibull.

    With ``d = L - let_th``, ``z = (d / w) ** s`` and ``g = 1 - exp(-z)``:
    ``dsigma/dsigma_sat = g``, ``dsigma/dlet_th = -sigma_sat exp(-z) s z / d``,
    ``dsigma/ds = sigma_sat exp(-z) z log(d / w)``, ``dsigma/dw = -sigma_sat exp(-z) s z / w``;
    ``dNLL/dtheta = sum (1 - N / lambda) exposure dsigma/dtheta``.

    Parameters
    ----------
    theta : sequence of 4 floats
    x, exposure, counts : array_like

    Returns
    -------
    (float, numpy.ndarray (4,))
        NLL and gradient; ``(inf, zeros)`` where a run with counts has ``lambda == 0``.
    """
    A, l0, s, w = (float(v) for v in theta)
    x = np.asarray(x, float)
    exposure = np.asarray(exposure, float)
    counts = np.asarray(counts, float)
    nll = poisson_nll(theta, x, exposure, counts)
    if not np.isfinite(nll):
        return nll, np.zeros(4)
    above = x > l0
    d = x[above] - l0
    z = (d / w) ** s
    e = np.exp(-z)
    ds = np.zeros((x.size, 4))
    ds[above, 0] = -np.expm1(-z)
    ds[above, 1] = -A * e * s * z / d
    ds[above, 2] = A * e * z * np.log(d / w)
    ds[above, 3] = -A * e * s * z / w
    lam = weibull(x, *theta) * exposure
    r = exposure.copy()
    hit = counts > 0
    r[hit] -= counts[hit] / lam[hit] * exposure[hit]
    return nll, np.sum(r[:, None] * ds, axis=0)


def brute_force_nll(x, exposure, counts, lower, upper, n_starts=40, seed=0):
    """Minimum of the Poisson-Weibull NLL over a box, by brute-force multi-start.

    Many L-BFGS-B runs (gradient of :func:`poisson_nll_grad`) from random starts on a
    scaled parametrisation (``sigma_sat / lower[0]``, the other parameters mapped onto
    [0, 1]), followed by a derivative-free Nelder-Mead and Powell polish of the best
    few.  Every evaluation is clipped to the box: an unclipped simplex wanders out of
    the box and finds spuriously low values there.

    Parameters
    ----------
    x, exposure, counts : array_like
        LET, exposure and counts of the runs in the likelihood.
    lower, upper : array_like of 4 floats
        The box in physical units.
    n_starts : int
        Number of random starts (uniform in the box; log-uniform for sigma_sat).
    seed : int
        Seed of the numpy Generator that draws the starts.

    Returns
    -------
    (nll, theta) : (float, numpy.ndarray)
        Lowest NLL found and the parameters (inside the box) where it is reached.
    """
    x = np.asarray(x, float)
    exposure = np.asarray(exposure, float)
    counts = np.asarray(counts, float)
    lo = np.asarray(lower, float)
    hi = np.asarray(upper, float)
    # u[0] = sigma_sat / lower[0] in [1, 20]; the others mapped onto [0, 1].
    offset = np.array([0.0, lo[1], lo[2], lo[3]])
    scale = np.array([lo[0], hi[1] - lo[1], hi[2] - lo[2], hi[3] - lo[3]])
    ulo, uhi = (lo - offset) / scale, (hi - offset) / scale

    def phys(u):
        return offset + np.clip(u, ulo, uhi) * scale

    def f(u):
        val = poisson_nll(phys(u), x, exposure, counts)
        return val if np.isfinite(val) else 1e300

    def fg(u):
        val, g = poisson_nll_grad(phys(u), x, exposure, counts)
        return (val, g * scale) if np.isfinite(val) else (1e300, np.zeros(4))

    rng = np.random.default_rng(seed)
    starts = ulo + rng.random((n_starts, 4)) * (uhi - ulo)
    starts[:, 0] = np.exp(np.log(ulo[0]) + rng.random(n_starts) * np.log(uhi[0] / ulo[0]))
    # The let_th upper bound makes the NLL infinite there: stay a hair inside.
    starts[:, 1] = np.minimum(starts[:, 1], uhi[1] - 1e-6)
    box = list(zip(ulo, uhi, strict=True))
    found = []
    for u0 in starts:
        r = optimize.minimize(fg, u0, jac=True, method="L-BFGS-B", bounds=box,
                              options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 3000})
        found.append((f(r.x), np.clip(r.x, ulo, uhi)))
    found.sort(key=lambda t: t[0])
    best_f, best_u = found[0]
    for _, u in found[:3]:
        for _round in range(2):
            r = optimize.minimize(f, u, method="Nelder-Mead",
                                  options={"xatol": 1e-11, "fatol": 1e-12, "maxiter": 8000,
                                           "maxfev": 8000, "adaptive": True})
            u = np.clip(r.x, ulo, uhi)
            r = optimize.minimize(f, u, method="Powell", bounds=box,
                                  options={"xtol": 1e-11, "ftol": 1e-14, "maxiter": 8000})
            u = np.clip(r.x, ulo, uhi)
            r = optimize.minimize(fg, u, jac=True, method="L-BFGS-B", bounds=box,
                                  options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 3000})
            u = np.clip(r.x, ulo, uhi)
        val = f(u)
        if val < best_f:
            best_f, best_u = val, u
    theta = phys(best_u)
    return poisson_nll(theta, x, exposure, counts), theta


def finite_diff_jacobian(func, theta, rel=1e-6):
    """Central finite-difference derivative of a vector function.

    Parameters
    ----------
    func : callable
        ``func(theta) -> array (n,)``.
    theta : array_like (p,)
        Point of evaluation.
    rel : float
        Relative step (absolute for parameters equal to 0).

    Returns
    -------
    numpy.ndarray (n, p)
    """
    theta = np.asarray(theta, float)
    cols = []
    for k in range(theta.size):
        h = rel * max(abs(theta[k]), 1e-3)
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        cols.append((np.asarray(func(tp), float) - np.asarray(func(tm), float)) / (2 * h))
    return np.stack(cols, axis=-1)


def finite_diff_hessian(grad, theta, rel=1e-6):
    """Symmetrised central differences of a gradient (or of a Jacobian).

    Parameters
    ----------
    grad : callable
        ``grad(theta) -> array (..., p)``.
    theta : array_like (p,)
        Point of evaluation.
    rel : float
        Relative step.

    Returns
    -------
    numpy.ndarray (..., p, p)
    """
    H = finite_diff_jacobian(grad, theta, rel)
    return 0.5 * (H + np.swapaxes(H, -1, -2))


def poisson_upper_root(n, alpha):
    """Mean ``mu`` with ``P(N <= n | mu) = alpha``, by Brent root finding.

    Parameters
    ----------
    n : int
        Observed count.
    alpha : float
        Tail probability (0.025 for a two-sided 95 % interval, 0.05 one-sided).

    Returns
    -------
    float
    """
    return optimize.brentq(lambda mu: stats.poisson.cdf(n, mu) - alpha, 1e-12, 10.0 * n + 50.0,
                           xtol=1e-14, rtol=1e-15)


def poisson_lower_root(n, alpha):
    """Mean ``mu`` with ``P(N >= n | mu) = alpha`` (n >= 1), by Brent root finding.

    Parameters
    ----------
    n : int
        Observed count, at least 1.
    alpha : float
        Tail probability.

    Returns
    -------
    float
    """
    return optimize.brentq(lambda mu: stats.poisson.sf(n - 1, mu) - alpha, 1e-12, 10.0 * n + 50.0,
                           xtol=1e-14, rtol=1e-15)


def simulate(theta, let, fluence, seed):
    """Poisson counts drawn from a Weibull curve with a fixed seed.

    Parameters
    ----------
    theta : sequence of 4 floats
        True ``(sigma_sat, let_th, s, w)``.
    let, fluence : array_like
        Design of the test.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray of int
    """
    rng = np.random.default_rng(seed)
    lam = weibull(let, *theta) * np.asarray(fluence, float)
    return rng.poisson(lam)


# -- the bootstrap's per-replicate optimum, by a profiled grid + L-BFGS-B -----------------
def rule_box(x, expo, counts):
    """The bootstrap's per-replicate box: sigma_sat in [0.5, 10] x the largest observed
    cross-section, let_th in [0, lowest LET with events], s in [0.1, 10],
    w in [0.1, max(2 x LET span, 1)]."""
    x, expo, counts = (np.asarray(a, float) for a in (x, expo, counts))
    hit = counts > 0
    smax = np.max(counts[hit] / expo[hit])
    lo = np.array([0.5 * smax, 0.0, 0.1, 0.1])
    hi = np.array([10 * smax, x[hit].min(), 10.0, max(2.0 * (x.max() - x.min()), 1.0)])
    return lo, hi


def _shape(x, let_th, s, w):
    """1 - exp(-((x - let_th) / w) ** s) above threshold, 0 below; broadcasts."""
    d = x - let_th
    above = d > 0
    ell = np.log(np.where(above, d, 1.0)) - np.log(w)
    return -np.expm1(-np.where(above, np.exp(np.minimum(s * ell, 700.0)), 0.0))


def profiled_nll(eta, x, expo, counts, a_lo, a_hi):
    """NLL at the clipped conditional optimum of sigma_sat, its gradient in
    eta = (let_th, log s, log w) (envelope theorem) and that sigma_sat."""
    let_th, ls, lw = eta
    s = np.exp(ls)
    d = x - let_th
    above = d > 0
    ds = np.where(above, d, 1.0)
    ell = np.log(ds) - lw
    z = np.where(above, np.exp(np.minimum(s * ell, 700.0)), 0.0)
    e = np.where(above, np.exp(-z), 0.0)
    g = -np.expm1(-z)
    gsum = g @ expo
    a = np.clip(counts.sum() / gsum, a_lo, a_hi) if gsum > 0 else a_hi
    lam = np.maximum(a * g * expo, 1e-300)
    f = np.sum(a * g * expo) - np.sum(np.where(counts > 0, counts * np.log(lam), 0.0))
    r = (1.0 - counts / lam) * expo
    grad = np.array([r @ (a * e * (-s * z / ds)), r @ (a * e * z * ell * s),
                     r @ (a * e * (-s * z))])
    return f, grad, a


def brute_force_profiled(x, expo, counts, top=6):
    """Lowest NLL on :func:`rule_box` and its point: ``(nll, theta)``.

    For each let_th interval between tested LETs (the NLL has a kink at each), a
    1,800-point grid over (let_th, s, w) with sigma_sat profiled out, then L-BFGS-B
    (analytic gradient, log s and log w) from the ``top`` best points, twice each (a
    restart refreshes the L-BFGS memory).  ``x, expo, counts``: the runs in the
    likelihood.
    """
    x, expo, counts = (np.asarray(a, float) for a in (x, expo, counts))
    lo, hi = rule_box(x, expo, counts)
    knots = np.unique(np.r_[lo[1], x[(x > lo[1]) & (x < hi[1])], hi[1]])
    best, best_theta = np.inf, None
    for k_lo, k_hi in pairwise(knots):
        eps = 1e-9 * max(k_hi - k_lo, 1e-12)
        # The top interval ends where the estimator's let_th does, 1e-9 of the whole box
        # below the cap (seufit.optimize.CAP_FLOOR): with s near its lower bound the NLL
        # still falls in the last 1e-9 below the cap, so a nearer end would compare the
        # fits with optima outside their box.
        end = 1e-9 * max(hi[1] - lo[1], 1e-12) if k_hi == hi[1] else eps
        la, lb = k_lo + (eps if k_lo > lo[1] else 0.0), k_hi - end
        # let_th: an even grid plus points crowding the upper end (narrow optima there).
        l_grid = np.r_[np.linspace(la, lb, 8), lb - (lb - la) * np.array([1e-4, 1e-3, 1e-2])]
        G = np.stack(np.meshgrid(l_grid, np.geomspace(lo[2], hi[2], 15),
                                 np.geomspace(lo[3], hi[3], 15), indexing="ij"), -1).reshape(-1, 3)
        g = _shape(x[None, :], G[:, :1], G[:, 1:2], G[:, 2:3])
        gsum = g @ expo
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.clip(counts.sum() / np.where(gsum > 0, gsum, np.nan), lo[0], hi[0])
        a = np.where(np.isfinite(a), a, hi[0])
        lam = np.maximum(a[:, None] * g * expo, 1e-300)
        f = lam.sum(1) - np.sum(np.where(counts > 0, counts * np.log(lam), 0.0), 1)
        box = [(la, lb), (np.log(lo[2]), np.log(hi[2])), (np.log(lo[3]), np.log(hi[3]))]
        for i in np.argsort(f)[:top]:
            eta = np.array([G[i, 0], np.log(G[i, 1]), np.log(G[i, 2])])
            for _ in range(2):
                r = optimize.minimize(
                    lambda e: profiled_nll(e, x, expo, counts, lo[0], hi[0])[:2], eta,
                    jac=True, method="L-BFGS-B", bounds=box,
                    options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9, "maxls": 40})
                eta = r.x
            a_opt = profiled_nll(eta, x, expo, counts, lo[0], hi[0])[2]
            theta = np.array([a_opt, eta[0], np.exp(eta[1]), np.exp(eta[2])])
            val = poisson_nll(theta, x, expo, counts)
            if val < best:
                best, best_theta = val, theta
    return best, best_theta
