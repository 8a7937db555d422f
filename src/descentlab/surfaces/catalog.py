"""The test functions: what each one teaches, its formula, analytic derivatives and known minima.

Every function below takes ``x, y`` (floats or arrays of the same shape) and the surface's parameters,
and uses arithmetic and NumPy ufuncs only, so it runs on arrays and inside numba alike (see
:mod:`descentlab.surfaces.surface`). Minima and values of the classical benchmarks follow Jamil & Yang,
"A literature survey of benchmark functions for global optimization problems" (2013), and the Virtual
Library of Simulation Experiments (Surjanovic & Bingham, sfu.ca/~ssurjano).
"""

from __future__ import annotations

import math

import numpy as np

from descentlab._numbers import is_real
from descentlab.surfaces.surface import Surface

TAU = 2.0 * math.pi

# ---------------------------------------------------------------------------------------------------------
# Quadratic bowl  f = ½ θᵀAθ,  A = R(φ) diag(1, κ) R(φ)ᵀ
# ---------------------------------------------------------------------------------------------------------


def quadratic_value(x, y, a, b, c):
    return 0.5 * (a * x * x + 2.0 * b * x * y + c * y * y)


def quadratic_grad(x, y, a, b, c):
    return a * x + b * y, b * x + c * y


def quadratic_hessian(x, y, a, b, c):
    return a + 0.0 * x, b + 0.0 * x, c + 0.0 * x


def quadratic(condition: float = 10.0, angle: float = 0.0) -> Surface:
    """The bowl f(θ) = ½ θᵀAθ with eigenvalues 1 and ``condition`` (κ), its long axis turned by ``angle``
    degrees from the x axis: A = R(φ) diag(1, κ) R(φ)ᵀ. Minimum 0 at the origin.

    GD with rate α contracts the error along each eigenvector by |1 − αλ|: it needs α < 2/κ to be stable
    and then crawls along the long axis at the rate 1 − 2/κ (Boyd & Vandenberghe §9.3; Goh, "Why momentum
    really works", Distill 2017). Turning the bowl (``angle`` ≠ 0) takes away the per-coordinate scaling
    that AdaGrad/RMSprop/Adam exploit on axis-aligned bowls.
    """
    condition = _positive_finite("quadratic", "condition", condition, minimum=1.0, hint="e.g. 10 or 100")
    angle = _finite("quadratic", "angle", angle, hint="degrees, e.g. 30")
    phi = math.radians(angle)
    cos, sin = math.cos(phi), math.sin(phi)
    a = cos * cos + condition * sin * sin
    b = (1.0 - condition) * cos * sin
    c = sin * sin + condition * cos * cos
    default = condition == 10.0 and angle == 0.0
    name = "quadratic" if default else f"quadratic(condition={condition:g}, angle={angle:g})"
    start = (-1.6 * cos - 0.8 * sin, -1.6 * sin + 0.8 * cos)  # the same start, turned with the bowl
    return Surface(
        name=name,
        description=f"An ill-conditioned bowl (κ = {condition:g}): GD zig-zags across and crawls along it.",
        value_fn=quadratic_value,
        grad_fn=quadratic_grad,
        hessian_fn=quadratic_hessian,
        params=(a, b, c),
        minima=[(0.0, 0.0)],
        minimum_value=0.0,
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        start=start,
        formula=f"½ θᵀAθ, A = R({angle:g}°) diag(1, {condition:g}) R({angle:g}°)ᵀ",
        arithmetic_only=True,
    )


# ---------------------------------------------------------------------------------------------------------
# Elongated valley with a gently sloping floor  f = a·log cosh x + ½ c (y − s x)²
# ---------------------------------------------------------------------------------------------------------


def valley_value(x, y, a, c, s):
    ax = np.abs(x)
    log_cosh = ax + np.log1p(np.exp(-2.0 * ax)) - math.log(2.0)  # log cosh x without overflow
    u = y - s * x
    return a * log_cosh + 0.5 * c * u * u


def valley_grad(x, y, a, c, s):
    u = y - s * x
    return a * np.tanh(x) - c * s * u, c * u


def valley_hessian(x, y, a, c, s):
    t = np.tanh(x)
    return a * (1.0 - t * t) + c * s * s, -c * s + 0.0 * x, c + 0.0 * x


valley = Surface(
    name="valley",
    description="A long narrow valley whose floor slopes gently: GD zig-zags and crawls, momentum builds speed.",
    value_fn=valley_value,
    grad_fn=valley_grad,
    hessian_fn=valley_hessian,
    params=(0.5, 20.0, 0.2),
    minima=[(0.0, 0.0)],
    minimum_value=0.0,
    bounds=((-10.0, 10.0), (-4.0, 4.0)),
    start=(-8.0, 0.5),
    formula="0.5·log cosh x + 10·(y − 0.2x)²",
)

# ---------------------------------------------------------------------------------------------------------
# Rosenbrock  f = (a − x)² + b (y − x²)²   (Rosenbrock 1960)
# ---------------------------------------------------------------------------------------------------------


def rosenbrock_value(x, y, a, b):
    r = y - x * x
    return (a - x) * (a - x) + b * r * r


def rosenbrock_grad(x, y, a, b):
    r = y - x * x
    return -2.0 * (a - x) - 4.0 * b * x * r, 2.0 * b * r


def rosenbrock_hessian(x, y, a, b):
    return 2.0 - 4.0 * b * y + 12.0 * b * x * x, -4.0 * b * x, 2.0 * b + 0.0 * x


rosenbrock = Surface(
    name="rosenbrock",
    description="A curved banana valley: finding the valley is easy, following its flat floor to (1, 1) is hard.",
    value_fn=rosenbrock_value,
    grad_fn=rosenbrock_grad,
    hessian_fn=rosenbrock_hessian,
    params=(1.0, 100.0),
    minima=[(1.0, 1.0)],
    minimum_value=0.0,
    bounds=((-2.0, 2.0), (-1.0, 3.0)),
    start=(-1.5, 2.0),
    formula="(1 − x)² + 100(y − x²)²",
    arithmetic_only=True,
)

# ---------------------------------------------------------------------------------------------------------
# Beale  f = Σᵢ (cᵢ − x + x yⁱ)²,  c = (1.5, 2.25, 2.625)
# ---------------------------------------------------------------------------------------------------------


def beale_value(x, y):
    r1 = 1.5 - x + x * y
    r2 = 2.25 - x + x * y * y
    r3 = 2.625 - x + x * y * y * y
    return r1 * r1 + r2 * r2 + r3 * r3


def beale_grad(x, y):
    y2 = y * y
    y3 = y2 * y
    r1 = 1.5 - x + x * y
    r2 = 2.25 - x + x * y2
    r3 = 2.625 - x + x * y3
    gx = 2.0 * (r1 * (y - 1.0) + r2 * (y2 - 1.0) + r3 * (y3 - 1.0))
    gy = 2.0 * (r1 * x + r2 * 2.0 * x * y + r3 * 3.0 * x * y2)
    return gx, gy


def beale_hessian(x, y):
    # f = Σ rᵢ²  ⇒  ∇²f = 2 Σ (∇rᵢ ∇rᵢᵀ + rᵢ ∇²rᵢ), with ∂rᵢ/∂x = yⁱ − 1, ∂rᵢ/∂y = i x yⁱ⁻¹.
    y2 = y * y
    y3 = y2 * y
    r1 = 1.5 - x + x * y
    r2 = 2.25 - x + x * y2
    r3 = 2.625 - x + x * y3
    ax1, ax2, ax3 = y - 1.0, y2 - 1.0, y3 - 1.0
    ay1, ay2, ay3 = x, 2.0 * x * y, 3.0 * x * y2
    hxx = 2.0 * (ax1 * ax1 + ax2 * ax2 + ax3 * ax3)
    hxy = 2.0 * (ax1 * ay1 + ax2 * ay2 + ax3 * ay3 + r1 + r2 * 2.0 * y + r3 * 3.0 * y2)
    hyy = 2.0 * (ay1 * ay1 + ay2 * ay2 + ay3 * ay3 + r2 * 2.0 * x + r3 * 6.0 * x * y)
    return hxx, hxy, hyy


beale = Surface(
    name="beale",
    description="Sharp ridges and flat corners over eight decades of f: a test of step-size adaptation.",
    value_fn=beale_value,
    grad_fn=beale_grad,
    hessian_fn=beale_hessian,
    params=(),
    minima=[(3.0, 0.5)],
    minimum_value=0.0,
    bounds=((-4.5, 4.5), (-4.5, 4.5)),
    start=(1.0, 1.5),
    formula="(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
    arithmetic_only=True,
)

# ---------------------------------------------------------------------------------------------------------
# Himmelblau  f = (x² + y − 11)² + (x + y² − 7)²   (Himmelblau 1972)
# ---------------------------------------------------------------------------------------------------------


def himmelblau_value(x, y):
    r1 = x * x + y - 11.0
    r2 = x + y * y - 7.0
    return r1 * r1 + r2 * r2


def himmelblau_grad(x, y):
    r1 = x * x + y - 11.0
    r2 = x + y * y - 7.0
    return 4.0 * x * r1 + 2.0 * r2, 2.0 * r1 + 4.0 * y * r2


def himmelblau_hessian(x, y):
    return 12.0 * x * x + 4.0 * y - 42.0, 4.0 * (x + y), 4.0 * x + 12.0 * y * y - 26.0


himmelblau = Surface(
    name="himmelblau",
    description="Four equal minima: where you start decides which one you reach.",
    value_fn=himmelblau_value,
    grad_fn=himmelblau_grad,
    hessian_fn=himmelblau_hessian,
    params=(),
    minima=[
        (3.0, 2.0),
        (-2.805118086952745, 3.131312518250573),
        (-3.779310253377747, -3.283185991286169),
        (3.5844283403304917, -1.8481265269644036),
    ],
    minimum_value=0.0,
    bounds=((-5.0, 5.0), (-5.0, 5.0)),
    start=(0.0, 0.0),
    formula="(x² + y − 11)² + (x + y² − 7)²",
    arithmetic_only=True,
)

# ---------------------------------------------------------------------------------------------------------
# Booth  f = (x + 2y − 7)² + (2x + y − 5)²
# ---------------------------------------------------------------------------------------------------------


def booth_value(x, y):
    r1 = x + 2.0 * y - 7.0
    r2 = 2.0 * x + y - 5.0
    return r1 * r1 + r2 * r2


def booth_grad(x, y):
    return 10.0 * x + 8.0 * y - 34.0, 8.0 * x + 10.0 * y - 38.0


def booth_hessian(x, y):
    return 10.0 + 0.0 * x, 8.0 + 0.0 * x, 10.0 + 0.0 * x


booth = Surface(
    name="booth",
    description="A tilted quadratic (κ = 9) with its minimum off the origin: the baseline every method should pass.",
    value_fn=booth_value,
    grad_fn=booth_grad,
    hessian_fn=booth_hessian,
    params=(),
    minima=[(1.0, 3.0)],
    minimum_value=0.0,
    bounds=((-10.0, 10.0), (-10.0, 10.0)),
    start=(-8.0, -6.0),
    formula="(x + 2y − 7)² + (2x + y − 5)²",
    arithmetic_only=True,
)

# ---------------------------------------------------------------------------------------------------------
# Matyas  f = 0.26 (x² + y²) − 0.48 xy
# ---------------------------------------------------------------------------------------------------------


def matyas_value(x, y):
    return 0.26 * (x * x + y * y) - 0.48 * x * y


def matyas_grad(x, y):
    return 0.52 * x - 0.48 * y, 0.52 * y - 0.48 * x


def matyas_hessian(x, y):
    return 0.52 + 0.0 * x, -0.48 + 0.0 * x, 0.52 + 0.0 * x


matyas = Surface(
    name="matyas",
    description="A bowl that is almost flat along the diagonal (κ = 25): fast across, slow along x = y.",
    value_fn=matyas_value,
    grad_fn=matyas_grad,
    hessian_fn=matyas_hessian,
    params=(),
    minima=[(0.0, 0.0)],
    minimum_value=0.0,
    bounds=((-10.0, 10.0), (-10.0, 10.0)),
    start=(6.0, 8.5),
    formula="0.26(x² + y²) − 0.48xy",
    arithmetic_only=True,
)

# ---------------------------------------------------------------------------------------------------------
# Six-hump camel  f = (4 − 2.1x² + x⁴/3)x² + xy + (−4 + 4y²)y²
# ---------------------------------------------------------------------------------------------------------


def six_hump_camel_value(x, y):
    x2 = x * x
    y2 = y * y
    return (4.0 - 2.1 * x2 + x2 * x2 / 3.0) * x2 + x * y + (-4.0 + 4.0 * y2) * y2


def six_hump_camel_grad(x, y):
    x2 = x * x
    return 8.0 * x - 8.4 * x2 * x + 2.0 * x2 * x2 * x + y, x - 8.0 * y + 16.0 * y * y * y


def six_hump_camel_hessian(x, y):
    x2 = x * x
    return 8.0 - 25.2 * x2 + 10.0 * x2 * x2, 1.0 + 0.0 * x, -8.0 + 48.0 * y * y


six_hump_camel = Surface(
    name="six_hump_camel",
    description="Six local minima, two of them global: local methods end wherever their basin takes them.",
    value_fn=six_hump_camel_value,
    grad_fn=six_hump_camel_grad,
    hessian_fn=six_hump_camel_hessian,
    params=(),
    minima=[(0.08984201310031807, -0.7126564030207396), (-0.08984201310031807, 0.7126564030207396)],
    minimum_value=-1.0316284534898774,
    bounds=((-2.0, 2.0), (-1.2, 1.2)),
    start=(-1.5, 0.5),
    formula="(4 − 2.1x² + x⁴/3)x² + xy + (−4 + 4y²)y²",
    arithmetic_only=True,
)

# ---------------------------------------------------------------------------------------------------------
# Rastrigin  f = 2A + Σ (xᵢ² − A cos 2πxᵢ)   (Rastrigin 1974)
# ---------------------------------------------------------------------------------------------------------


def rastrigin_value(x, y, a):
    return 2.0 * a + x * x - a * np.cos(TAU * x) + y * y - a * np.cos(TAU * y)


def rastrigin_grad(x, y, a):
    return 2.0 * x + a * TAU * np.sin(TAU * x), 2.0 * y + a * TAU * np.sin(TAU * y)


def rastrigin_hessian(x, y, a):
    return 2.0 + a * TAU * TAU * np.cos(TAU * x), 0.0 * x, 2.0 + a * TAU * TAU * np.cos(TAU * y)


rastrigin = Surface(
    name="rastrigin",
    description="A bowl covered in a regular grid of local minima: gradient methods stop in the nearest one.",
    value_fn=rastrigin_value,
    grad_fn=rastrigin_grad,
    hessian_fn=rastrigin_hessian,
    params=(10.0,),
    minima=[(0.0, 0.0)],
    minimum_value=0.0,
    bounds=((-5.12, 5.12), (-5.12, 5.12)),
    start=(3.2, 2.3),
    formula="20 + x² − 10 cos 2πx + y² − 10 cos 2πy",
)

# ---------------------------------------------------------------------------------------------------------
# Ackley  f = −a·exp(−b·s) − exp(½(cos cx + cos cy)) + a + e,  s = √(½(x² + y²))   (Ackley 1987)
# ---------------------------------------------------------------------------------------------------------


def ackley_value(x, y, a, b, c):
    s = np.sqrt(0.5 * (x * x + y * y))
    return -a * np.exp(-b * s) - np.exp(0.5 * (np.cos(c * x) + np.cos(c * y))) + a + math.e


def ackley_grad(x, y, a, b, c):
    # The cone term −a·exp(−b·s) has no gradient at the origin; its subgradient 0 is returned there
    # (s is replaced by 1 where it is 0, and the numerator x is 0 there).
    s = np.sqrt(0.5 * (x * x + y * y))
    cone = 0.5 * a * b * np.exp(-b * s) / (s + (s == 0.0))
    ripple = 0.5 * c * np.exp(0.5 * (np.cos(c * x) + np.cos(c * y)))
    return cone * x + ripple * np.sin(c * x), cone * y + ripple * np.sin(c * y)


def ackley_hessian(x, y, a, b, c):
    # Cone: ∂²/∂xᵢ∂xⱼ = k(δᵢⱼ/s − xᵢxⱼ(b s + 1)/(2 s³)), k = ½ a b exp(−b s); it grows like 1/s at the
    # origin, where it is unbounded (returned as the finite value with s replaced by 1, as in the gradient).
    s = np.sqrt(0.5 * (x * x + y * y))
    safe = s + (s == 0.0)
    k = 0.5 * a * b * np.exp(-b * s)
    cross = k * (b * safe + 1.0) / (2.0 * safe * safe * safe)
    e = np.exp(0.5 * (np.cos(c * x) + np.cos(c * y)))
    sx, sy = np.sin(c * x), np.sin(c * y)
    half_c2 = 0.5 * c * c
    hxx = k / safe - cross * x * x + half_c2 * e * (np.cos(c * x) - 0.5 * sx * sx)
    hyy = k / safe - cross * y * y + half_c2 * e * (np.cos(c * y) - 0.5 * sy * sy)
    hxy = -cross * x * y - 0.5 * half_c2 * e * sx * sy
    return hxx, hxy, hyy


ackley = Surface(
    name="ackley",
    description="A funnel under dense ripples: the global trend leads home only if the ripples are stepped over.",
    value_fn=ackley_value,
    grad_fn=ackley_grad,
    hessian_fn=ackley_hessian,
    params=(20.0, 0.2, TAU),
    minima=[(0.0, 0.0)],
    minimum_value=0.0,
    bounds=((-5.0, 5.0), (-5.0, 5.0)),
    start=(3.3, -2.2),
    formula="−20 exp(−0.2 √(½(x² + y²))) − exp(½(cos 2πx + cos 2πy)) + 20 + e",
)

# ---------------------------------------------------------------------------------------------------------
# Saddles (unbounded below: no minima)
# ---------------------------------------------------------------------------------------------------------


def saddle_value(x, y):
    return x * x - y * y


def saddle_grad(x, y):
    return 2.0 * x, -2.0 * y


def saddle_hessian(x, y):
    return 2.0 + 0.0 * x, 0.0 * x, -2.0 + 0.0 * x


saddle = Surface(
    name="saddle",
    description="A saddle point at the origin: GD escapes only through its tiny y-component; Newton is drawn in.",
    value_fn=saddle_value,
    grad_fn=saddle_grad,
    hessian_fn=saddle_hessian,
    params=(),
    minima=np.empty((0, 2)),
    minimum_value=-math.inf,
    bounds=((-2.0, 2.0), (-2.0, 2.0)),
    start=(-1.8, 0.01),
    formula="x² − y²",
    arithmetic_only=True,
)


def monkey_saddle_value(x, y):
    return x * x * x - 3.0 * x * y * y


def monkey_saddle_grad(x, y):
    return 3.0 * (x * x - y * y), -6.0 * x * y


def monkey_saddle_hessian(x, y):
    return 6.0 * x, -6.0 * y, -6.0 * x


monkey_saddle = Surface(
    name="monkey_saddle",
    description="A degenerate saddle (zero Hessian at the origin): the gradient vanishes quadratically near it.",
    value_fn=monkey_saddle_value,
    grad_fn=monkey_saddle_grad,
    hessian_fn=monkey_saddle_hessian,
    params=(),
    minima=np.empty((0, 2)),
    minimum_value=-math.inf,
    bounds=((-2.0, 2.0), (-2.0, 2.0)),
    start=(1.5, 0.3),
    formula="x³ − 3xy²",
    arithmetic_only=True,
)

# ---------------------------------------------------------------------------------------------------------
# Plateau  f = 1 − exp(−½(a x² + b y²))
# ---------------------------------------------------------------------------------------------------------


def plateau_value(x, y, a, b):
    return 1.0 - np.exp(-0.5 * (a * x * x + b * y * y))


def plateau_grad(x, y, a, b):
    e = np.exp(-0.5 * (a * x * x + b * y * y))
    return e * a * x, e * b * y


def plateau_hessian(x, y, a, b):
    # f = 1 − e^{−q}  ⇒  ∇²f = e^{−q}(∇²q − ∇q ∇qᵀ)
    e = np.exp(-0.5 * (a * x * x + b * y * y))
    qx, qy = a * x, b * y
    return e * (a - qx * qx), -e * qx * qy, e * (b - qy * qy)


plateau = Surface(
    name="plateau",
    description="A flat plateau (|∇f| ≈ 2e-3 at the start) around a basin: GD stalls, Adam's normalized step crosses.",
    value_fn=plateau_value,
    grad_fn=plateau_grad,
    hessian_fn=plateau_hessian,
    params=(1.0, 2.0),
    minima=[(0.0, 0.0)],
    minimum_value=0.0,
    bounds=((-5.0, 5.0), (-5.0, 5.0)),
    start=(3.5, 1.2),
    formula="1 − exp(−½(x² + 2y²))",
)

# ---------------------------------------------------------------------------------------------------------
# Cliff  f = b((x − m)² + y²) + S·δ·(softplus((c + W − x)/δ) − softplus((c − x)/δ))
# ---------------------------------------------------------------------------------------------------------


def _softplus(z):
    return 0.5 * (z + np.abs(z)) + np.log1p(np.exp(-np.abs(z)))  # log(1 + eᶻ) without overflow


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def cliff_value(x, y, b, m, slope, c, width, delta):
    # The drop written as S·δ·(softplus((c + W − x)/δ) − softplus((c − x)/δ)): ≈ S·W = h left of the face,
    # → 0 (without cancellation) right of it, slope −S on it.
    dx = x - m
    drop = slope * delta * (_softplus((c + width - x) / delta) - _softplus((c - x) / delta))
    return b * (dx * dx + y * y) + drop


def cliff_grad(x, y, b, m, slope, c, width, delta):
    face = _sigmoid((x - c) / delta) - _sigmoid((x - c - width) / delta)  # ≈ 1 on the face, 0 elsewhere
    return 2.0 * b * (x - m) - slope * face, 2.0 * b * y


def cliff_hessian(x, y, b, m, slope, c, width, delta):
    t1 = np.tanh(0.5 * (x - c) / delta)
    t2 = np.tanh(0.5 * (x - c - width) / delta)
    edges = 0.25 * ((1.0 - t1 * t1) - (1.0 - t2 * t2)) / delta  # d/dx of the face indicator
    return 2.0 * b - slope * edges, 0.0 * x, 2.0 * b + 0.0 * x


cliff = Surface(
    name="cliff",
    description="A gentle slope (|∇f| ≈ 0.3) ending in a cliff of slope 100: an unclipped step there is catapulted "
    "far away; clip_norm keeps it short.",
    value_fn=cliff_value,
    grad_fn=cliff_grad,
    hessian_fn=cliff_hessian,
    params=(0.05, 3.0, 100.0, 0.0, 0.2, 0.01),
    minima=[(3.0, 0.0)],
    minimum_value=0.0,
    bounds=((-4.0, 8.0), (-3.0, 3.0)),
    start=(-3.0, 1.5),
    formula="0.05((x − 3)² + y²) + a drop of 20 at slope 100 over 0 ≤ x ≤ 0.2 (smoothed over 0.01)",
)


# ---------------------------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------------------------


def _finite(owner: str, name: str, value: float, hint: str) -> float:
    if not is_real(value):
        raise TypeError(f"{owner}: {name}={value!r} must be a real number ({hint})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {name}={value!r} must be finite ({hint})")
    return value


def _positive_finite(owner: str, name: str, value: float, minimum: float, hint: str) -> float:
    value = _finite(owner, name, value, hint)
    if value < minimum:
        raise ValueError(f"{owner}: {name}={value!r} must be ≥ {minimum:g} ({hint})")
    return value


# ---------------------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------------------

SURFACES: dict[str, Surface] = {
    surface.name: surface
    for surface in (
        quadratic(),
        valley,
        rosenbrock,
        beale,
        himmelblau,
        booth,
        matyas,
        six_hump_camel,
        rastrigin,
        ackley,
        saddle,
        monkey_saddle,
        plateau,
        cliff,
    )
}


def get(name: str | Surface) -> Surface:
    """The surface registered as ``name`` (case and ``-``/``_``/space insensitive: ``"Six-Hump Camel"``
    works); a :class:`Surface` is returned as it is. Unknown names raise ``ValueError`` listing the known
    ones. A bowl with another condition number comes from :func:`quadratic`."""
    if isinstance(name, Surface):
        return name
    if not isinstance(name, str):
        raise TypeError(f"surfaces.get: expected a surface name such as 'rosenbrock', got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in SURFACES:
        raise ValueError(
            f"unknown surface {name!r}; known: {', '.join(SURFACES)} "
            f"(for a bowl with another condition number use descentlab.surfaces.quadratic(condition=…))"
        )
    return SURFACES[key]


__all__ = [
    "SURFACES",
    "ackley",
    "beale",
    "booth",
    "cliff",
    "get",
    "himmelblau",
    "matyas",
    "monkey_saddle",
    "plateau",
    "quadratic",
    "rastrigin",
    "rosenbrock",
    "saddle",
    "six_hump_camel",
    "valley",
]
