"""Newton's method: a second-order step that solves with the Hessian (or its products with vectors)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from descentlab._numbers import is_integer
from descentlab.optim._base import Optimizer
from descentlab.optim._validation import check_range

#: The float dtypes LAPACK (``np.linalg.solve``, ``eigvalsh``) works in.
LAPACK_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


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
    With ``hessian=`` the solve runs in a LAPACK dtype (float16 in float32, long double in float64); θ keeps
    its dtype.
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
            min_curvature = check_range(
                "min_curvature",
                min_curvature,
                0.0,
                math.inf,
                low_open=True,
                owner="Newton",
                hint="it is the smallest eigenvalue H + λI is raised to, e.g. 1e-3; None keeps the fixed damping",
            )
        self.min_curvature = min_curvature
        if not is_integer(cg_iters) or cg_iters < 1:
            raise ValueError(f"Newton: cg_iters={cg_iters!r} must be an integer ≥ 1, e.g. 100 (the default)")
        self.cg_iters = int(cg_iters)
        self.cg_tol = check_range(
            "cg_tol",
            cg_tol,
            0.0,
            1.0,
            low_open=True,
            owner="Newton",
            hint="it is the relative residual at which conjugate gradient stops, e.g. 1e-10 (the default) or 1e-6",
        )

    def step(
        self,
        theta: np.ndarray,
        grad: np.ndarray,
        hessian: np.ndarray | None = None,
        hvp: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> bool:
        self._check_arrays(theta, grad)
        if (hessian is None) == (hvp is None):
            raise ValueError("Newton.step needs exactly one of hessian=H (a matrix) or hvp=f (v ↦ H v)")
        if theta.ndim == 0:
            raise ValueError("Newton.step: theta is a 0-d array; pass a point of shape (d,) or (k, d)")
        if hessian is not None:
            hessian = self._check_hessian(theta, hessian)
        elif self.min_curvature is not None:
            raise ValueError(
                f"Newton.step: min_curvature={self.min_curvature:g} needs hessian=H (it raises the damping by "
                f"the smallest eigenvalue of H); with hvp= use a fixed damping instead: conjugate gradient "
                f"stops at the first direction of non-positive curvature"
            )
        elif not callable(hvp):
            raise TypeError(f"Newton.step: hvp must be a callable v ↦ H v, got {type(hvp).__name__}")
        return super().step(theta, grad, hessian=hessian, hvp=hvp)

    @staticmethod
    def _check_hessian(theta: np.ndarray, hessian: object) -> np.ndarray:
        expected = (*theta.shape, theta.shape[-1])
        hessian = np.asarray(hessian)
        if not (np.issubdtype(hessian.dtype, np.floating) or np.issubdtype(hessian.dtype, np.integer)):
            raise TypeError(
                f"Newton.step: hessian has dtype {hessian.dtype}; a real (float or integer) matrix is required"
            )
        if hessian.dtype.kind == "f" and hessian.dtype not in LAPACK_DTYPES:
            # LAPACK solves in float32 or float64 only: a float16 Hessian is solved in float32, a long double
            # one in float64 (θ keeps its own dtype).
            hessian = hessian.astype(np.float32 if hessian.dtype.itemsize < 4 else np.float64)
        if hessian.shape != expected:
            raise ValueError(
                f"Newton.step: hessian has shape {hessian.shape}; for theta of shape {theta.shape} it must be "
                f"{expected}"
            )
        if not np.isfinite(hessian).all():
            raise FloatingPointError("Newton.step: the Hessian holds NaN or Inf; the step was not applied")
        return hessian

    def _update(self, theta, grad, hessian=None, hvp=None):
        # A failed solve (singular H, a bad hvp) raises before θ is touched; Optimizer.step undoes the count.
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
            return np.linalg.solve(system, grad[..., None].astype(system.dtype, copy=False))[..., 0]
        except np.linalg.LinAlgError as err:
            raise np.linalg.LinAlgError(
                "Newton.step: the (damped) Hessian is singular at this point; pass damping=1e-3 or "
                "min_curvature=1e-3 to make it invertible"
            ) from err

    def _solve_cg(self, grad: np.ndarray, hvp: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Conjugate gradient on (H + λI) p = g, one independent solve per point (per row of a ``(k, d)`` θ).

        Each row keeps its own residual, step and stopping rule, so k points advanced together give what k
        separate calls give; a row that has converged or met non-positive curvature is frozen while the
        others go on.
        """
        shape = grad.shape
        rows = grad.reshape(-1, shape[-1])

        def apply(vectors: np.ndarray) -> np.ndarray:
            product = np.asarray(hvp(vectors.reshape(shape)))
            if product.shape != shape:
                raise ValueError(
                    f"Newton.step: hvp returned shape {product.shape} for a vector of shape {shape}; it must "
                    f"return H v with the shape of theta"
                )
            return product.reshape(rows.shape) + self.damping * vectors

        p = np.zeros_like(rows)
        r = rows.copy()
        d = r.copy()
        rr = np.einsum("ij,ij->i", r, r)
        stop = (self.cg_tol**2) * rr  # relative residual ‖r‖ ≤ cg_tol‖g‖, per row
        active = rr > stop
        for iteration in range(self.cg_iters):
            if not active.any():
                break
            hd = apply(np.where(active[:, None], d, 0.0))
            curvature = np.einsum("ij,ij->i", d, hd)
            bent = active & (curvature <= 0)
            if iteration == 0:
                p[bent] = rows[bent]  # no descent information yet: take the gradient direction
            active &= ~bent
            step = np.divide(rr, curvature, out=np.zeros_like(rr), where=active)
            p += step[:, None] * d
            r -= step[:, None] * hd
            rr_new = np.einsum("ij,ij->i", r, r)
            beta = np.divide(rr_new, rr, out=np.zeros_like(rr), where=active)
            d = np.where(active[:, None], r + beta[:, None] * d, d)
            active &= rr_new > stop
            rr = np.where(active, rr_new, rr)
        return p.reshape(shape)

    def _equations(self):
        lam = f"{self.damping:g}"
        if self.min_curvature is not None:
            lam = f"max({self.damping:g}, {self.min_curvature:g} − λ_min(H))"
        return [f"solve (H + {lam}·I) p = g", f"θ ← θ − {self.lr:g}·p"]
