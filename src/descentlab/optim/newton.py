"""Newton's method: a second-order step that solves with the Hessian (or its products with vectors)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from descentlab.optim._base import Optimizer
from descentlab.optim._validation import check_range


class Newton(Optimizer):
    """Newton's method with optional Levenberg–Marquardt damping.

        (H + λI) p = g ;   θ ← θ − α p

    On a quadratic ½θᵀAθ − bᵀθ with α = 1 and λ = 0 one step lands on the minimizer A⁻¹b.

    At a non-convex point H has negative eigenvalues and the plain step can climb (towards a saddle or a
    maximum). ``min_curvature=c`` chooses the damping as a Levenberg–Marquardt variant would:
    λ = max(``damping``, c − λ_min(H)), so that every eigenvalue of H + λI is at least c and the step is a
    descent direction. Without it, ``damping`` is the fixed λ.

    ``step(theta, grad, hessian=H)``: θ of shape ``(d,)`` with H ``(d, d)``, or ``(k, d)`` with H
    ``(k, d, d)`` for k independent points. ``step(theta, grad, hvp=f)`` with ``f(v) = H v`` (same shape as
    θ) solves by conjugate gradient instead — no d×d matrix, so it scales past small d; CG stops at
    ``cg_tol`` relative residual, after ``cg_iters`` iterations, or on meeting a direction of non-positive
    curvature (truncated Newton; the gradient direction is taken if that happens at the first iteration).
    """

    reference = "Newton–Raphson; Levenberg 1944, Marquardt 1963 (damping); Nocedal & Wright §7.1 (Newton-CG)"

    def __init__(
        self,
        lr: float = 1.0,
        damping: float = 0.0,
        min_curvature: float | None = None,
        cg_iters: int = 100,
        cg_tol: float = 1e-10,
        *,
        nonfinite: str = "raise",
    ) -> None:
        super().__init__(lr, nonfinite=nonfinite)
        self.damping = check_range("damping", damping, 0.0, math.inf, owner="Newton", hint="try 1e-3")
        if min_curvature is not None:
            min_curvature = check_range("min_curvature", min_curvature, 0.0, math.inf, low_open=True, owner="Newton")
        self.min_curvature = min_curvature
        if isinstance(cg_iters, bool) or not isinstance(cg_iters, int) or cg_iters < 1:
            raise ValueError(f"Newton: cg_iters={cg_iters!r} must be an integer ≥ 1")
        self.cg_iters = cg_iters
        self.cg_tol = check_range("cg_tol", cg_tol, 0.0, 1.0, low_open=True, owner="Newton")

    def step(
        self,
        theta: np.ndarray,
        grad: np.ndarray,
        hessian: np.ndarray | None = None,
        hvp: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> bool:
        if (hessian is None) == (hvp is None):
            raise ValueError("Newton.step needs exactly one of hessian=H (a matrix) or hvp=f (v ↦ H v)")
        if hessian is not None:
            expected = (*theta.shape, theta.shape[-1])
            hessian = np.asarray(hessian)
            if hessian.shape != expected:
                raise ValueError(
                    f"Newton.step: hessian has shape {hessian.shape}; for theta of shape {theta.shape} it must be "
                    f"{expected}"
                )
            if not np.isfinite(hessian).all():
                raise FloatingPointError("Newton.step: the Hessian holds NaN or Inf; the step was not applied")
        return super().step(theta, grad, hessian=hessian, hvp=hvp)

    def _update(self, theta, grad, hessian=None, hvp=None):
        direction = self._solve(grad, hessian) if hessian is not None else self._solve_cg(grad, hvp)
        theta -= (self.lr * direction).astype(theta.dtype, copy=False)

    def _damping_for(self, hessian: np.ndarray) -> np.ndarray:
        """λ per point: fixed, or raised until the smallest eigenvalue of H + λI reaches ``min_curvature``."""
        lam = np.full(hessian.shape[:-2], self.damping)
        if self.min_curvature is not None:
            sym = 0.5 * (hessian + np.swapaxes(hessian, -1, -2))
            smallest = np.linalg.eigvalsh(sym)[..., 0]
            lam = np.maximum(lam, self.min_curvature - smallest)
        return lam

    def _solve(self, grad: np.ndarray, hessian: np.ndarray) -> np.ndarray:
        lam = self._damping_for(hessian)
        system = hessian + lam[..., None, None] * np.eye(hessian.shape[-1])
        try:
            return np.linalg.solve(system, grad[..., None])[..., 0]
        except np.linalg.LinAlgError as err:
            raise np.linalg.LinAlgError(
                "Newton.step: the (damped) Hessian is singular at this point; pass damping=1e-3 or "
                "min_curvature=1e-3 to make it invertible"
            ) from err

    def _solve_cg(self, grad: np.ndarray, hvp: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Conjugate gradient on (H + λI) p = g, treating the whole array as one vector."""

        def apply(vector):
            return hvp(vector) + self.damping * vector

        p = np.zeros_like(grad)
        r = grad.copy()
        d = r.copy()
        rr = float(np.vdot(r, r))
        stop = (self.cg_tol**2) * rr
        for iteration in range(self.cg_iters):
            if rr <= stop:
                break
            hd = apply(d)
            curvature = float(np.vdot(d, hd))
            if curvature <= 0:
                return grad.copy() if iteration == 0 else p
            step = rr / curvature
            p += step * d
            r -= step * hd
            rr_new = float(np.vdot(r, r))
            d = r + (rr_new / rr) * d
            rr = rr_new
        return p

    def _equations(self):
        lam = f"{self.damping:g}"
        if self.min_curvature is not None:
            lam = f"max({self.damping:g}, {self.min_curvature:g} − λ_min(H))"
        return [f"solve (H + {lam}·I) p = g", f"θ ← θ − {self.lr:g}·p"]
