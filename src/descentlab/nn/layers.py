"""Layers of a :class:`~descentlab.nn.Network`.

Conventions. A batch is a 2-D array ``x`` of shape ``(n, features)``, one sample per row, and a dense layer
computes ``z = x @ W + b`` with ``W`` of shape ``(fan_in, fan_out)``. A layer's parameters are *views* into
the network's flat vector θ (``net.params``) and its gradients views into ``net.grads``; a layer never
allocates its own parameters. Each layer keeps work buffers per batch size, so a training step allocates
nothing after the first batch of a given size.

``forward(x, training)`` returns the layer's output; ``backward(delta, need_input_grad)`` receives
δ = ∂J/∂(output), writes the parameter gradients into their views of ``net.grads`` and returns ∂J/∂x.
Activations run *in place* (on the buffer of the layer before them, in both directions), which is why
their backward pass is written in terms of their output a (ReLU: a > 0; sigmoid: a(1 − a); tanh: 1 − a²).

The NumPy code here defines each pass. Where ``layer.fused`` holds the kernels of :mod:`descentlab.nn._kernels`
(set by the network for each pass when numba is installed), the bias and ReLU passes run as one compiled
loop each instead, with the same results bit for bit.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from descentlab.nn._validation import check_positive_int, check_probability, check_real
from descentlab.nn.initializers import Initializer, get_initializer, initializer_name


class Layer:
    """Base class: parameter declaration, per-batch-size buffers, configuration for checkpoints."""

    #: Runs in place on its input buffer (the network copies a user's X before such a layer when the layers
    #: before it, if any, handed X on unchanged).
    in_place: ClassVar[bool] = False
    #: Parameters that the L2 penalty λ/2·‖·‖² applies to (weights, never biases or BN's γ, β).
    decayed: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.name = ""
        self.input_dim = 0
        self.output_dim = 0
        self.dtype = np.dtype(np.float64)
        self._buffers: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
        #: The fused kernels for the current pass (:mod:`descentlab.nn._fused`), or None: the NumPy code.
        self.fused: ModuleType | None = None

    def __getstate__(self) -> dict[str, Any]:
        # ``fused`` holds a module, which neither pickle nor deepcopy can copy; the network sets it again on its
        # next pass, so a copied layer starts without it.
        return {**self.__dict__, "fused": None}

    # -- construction (called by Network) --------------------------------------------------------------
    def build(self, input_dim: int, dtype: np.dtype) -> int:
        """Fix the input width and dtype; return the output width."""
        self.input_dim = input_dim
        self.output_dim = input_dim
        self.dtype = dtype
        return self.output_dim

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The trainable arrays this layer needs, in layout order (after :meth:`build`)."""
        return {}

    def bind(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Attach the views of θ (``self.W``…) and of ∇θ (``self.dW``…)."""
        for key, view in params.items():
            setattr(self, key, view)
            setattr(self, "d" + key, grads[key])

    def initialize(self, rng: np.random.Generator) -> None:
        """Write initial values into the parameter views."""

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Arrays that are state but not parameters (batch norm's running averages)."""
        return {}

    def config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-ready, so that a checkpoint can rebuild the layer."""
        return {"type": type(self).__name__}

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The parameter views by name."""
        return {key: getattr(self, key) for key in self.param_shapes()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """The gradient views by name."""
        return {key: getattr(self, "d" + key) for key in self.param_shapes()}

    # -- computation ------------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, delta: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    # -- buffers ----------------------------------------------------------------------------------------
    def _buffer(self, key: str, shape: tuple[int, ...], dtype: np.dtype | type | None = None) -> np.ndarray:
        buffer = self._buffers.get((key, shape))
        if buffer is None:
            buffer = np.empty(shape, dtype=self.dtype if dtype is None else dtype)
            self._buffers[(key, shape)] = buffer
        return buffer

    def release(self, batch_size: int | None = None) -> None:
        """Free the work buffers kept for ``batch_size`` (all of them when ``None``)."""
        if batch_size is None:
            self._buffers.clear()
            return
        for key in [k for k in self._buffers if k[1] and k[1][0] == batch_size]:
            del self._buffers[key]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """Fully connected layer z = x W + b, W of shape (fan_in, fan_out).

    Backward, with δ = ∂J/∂z over a batch of n rows:  ∂J/∂W = xᵀδ ;  ∂J/∂b = Σᵢ δᵢ ;  ∂J/∂x = δ Wᵀ.
    The products are written straight into the views of ``net.grads`` (``np.matmul(..., out=dW)``).
    ``bias=False`` drops b (used before batch norm, whose β plays its role).
    """

    decayed = ("W",)

    def __init__(self, fan_in: int, fan_out: int, init: str | Initializer = "he", bias: bool = True) -> None:
        super().__init__()
        self.fan_in = check_positive_int("fan_in", fan_in, owner="Dense")
        self.fan_out = check_positive_int("fan_out", fan_out, owner="Dense")
        self.init = get_initializer(init)
        #: The initializer's name as recorded in checkpoints (kept when a checkpoint rebuilds the layer).
        self.init_label = initializer_name(self.init)
        self.bias = bool(bias)
        self.W: np.ndarray
        self.dW: np.ndarray
        self.b: np.ndarray
        self.db: np.ndarray
        self._x: np.ndarray | None = None

    def build(self, input_dim: int, dtype: np.dtype) -> int:
        if input_dim != self.fan_in:
            raise ValueError(
                f"Dense(fan_in={self.fan_in}, fan_out={self.fan_out}) receives {input_dim} features from the "
                f"layer before it; set fan_in={input_dim}"
            )
        super().build(input_dim, dtype)
        self.output_dim = self.fan_out
        return self.fan_out

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {"W": (self.fan_in, self.fan_out)}
        if self.bias:
            shapes["b"] = (self.fan_out,)
        return shapes

    def initialize(self, rng: np.random.Generator) -> None:
        values = np.asarray(self.init((self.fan_in, self.fan_out), rng, self.dtype))
        if values.shape != self.W.shape:
            raise ValueError(
                f"{self.name}: initializer {initializer_name(self.init)} returned shape {values.shape}, "
                f"expected {self.W.shape}"
            )
        self.W[...] = values
        if self.bias:
            self.b[...] = 0

    def config(self) -> dict[str, Any]:
        return {
            "type": "Dense",
            "fan_in": self.fan_in,
            "fan_out": self.fan_out,
            "init": self.init_label,
            "bias": self.bias,
        }

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._x = x
        out = self._buffer("out", (x.shape[0], self.fan_out))
        np.matmul(x, self.W, out=out)
        if self.bias:
            if self.fused is not None:
                self.fused.add_bias(out, self.b)
            else:
                np.add(out, self.b, out=out)
        return out

    def backward(self, delta: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        x = self._x
        np.matmul(x.T, delta, out=self.dW)
        if self.bias:
            if self.fused is not None:
                self.fused.column_sums(delta, self.db)
            else:
                np.sum(delta, axis=0, out=self.db)
        if not need_input_grad:
            return None
        dx = self._buffer("dx", x.shape)
        np.matmul(delta, self.W.T, out=dx)
        return dx


class Activation(Layer):
    """An elementwise function applied in place; ``self._out`` keeps the output for backward and stats."""

    in_place = True
    _out: np.ndarray

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._activate(x)
        self._out = x
        return x

    def _activate(self, x: np.ndarray) -> None:
        raise NotImplementedError

    @property
    def last_output(self) -> np.ndarray | None:
        """The activations of the last forward pass (None before the first)."""
        return getattr(self, "_out", None)


class ReLU(Activation):
    """a = max(z, 0);  ∂a/∂z = 1 where a > 0, else 0 (Nair & Hinton 2010)."""

    def _activate(self, x: np.ndarray) -> None:
        if self.fused is not None:
            self.fused.relu_forward(x)
            return
        np.maximum(x, 0, out=x)

    def backward(self, delta: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        if self.fused is not None:
            self.fused.relu_backward(delta, self._out)
            return delta
        mask = self._buffer("mask", delta.shape, np.bool_)
        np.greater(self._out, 0, out=mask)
        np.multiply(delta, mask, out=delta)
        return delta


class LeakyReLU(Activation):
    """a = z for z > 0, else s·z with slope s ∈ [0, 1);  ∂a/∂z = 1 or s (Maas et al. 2013)."""

    def __init__(self, slope: float = 0.01) -> None:
        super().__init__()
        self.slope = check_probability("slope", slope, owner="LeakyReLU")

    def config(self) -> dict[str, Any]:
        return {"type": "LeakyReLU", "slope": self.slope}

    def _activate(self, x: np.ndarray) -> None:
        scaled = self._buffer("scaled", x.shape)
        np.multiply(x, self.slope, out=scaled)
        np.maximum(x, scaled, out=x)  # max(z, s·z) = leaky ReLU because 0 ≤ s < 1

    def backward(self, delta: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        negative = self._buffer("mask", delta.shape, np.bool_)
        scaled = self._buffer("scaled", delta.shape)
        np.less_equal(self._out, 0, out=negative)
        np.multiply(delta, self.slope, out=scaled)
        np.copyto(delta, scaled, where=negative)
        return delta


class Sigmoid(Activation):
    """a = σ(z) = 1/(1 + e^(−z));  ∂a/∂z = a(1 − a). As the output layer it pairs with ``loss="bce"``."""

    def _activate(self, x: np.ndarray) -> None:
        with np.errstate(over="ignore"):  # e^(−z) = inf for very negative z gives σ = 0, which is exact
            np.negative(x, out=x)
            np.exp(x, out=x)
        np.add(x, 1, out=x)
        np.reciprocal(x, out=x)

    def backward(self, delta: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        slope = self._buffer("slope", delta.shape)
        np.subtract(1, self._out, out=slope)
        np.multiply(slope, self._out, out=slope)
        np.multiply(delta, slope, out=delta)
        return delta


class Tanh(Activation):
    """a = tanh(z);  ∂a/∂z = 1 − a²."""

    def _activate(self, x: np.ndarray) -> None:
        np.tanh(x, out=x)

    def backward(self, delta: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        slope = self._buffer("slope", delta.shape)
        np.multiply(self._out, self._out, out=slope)
        np.subtract(1, slope, out=slope)
        np.multiply(delta, slope, out=delta)
        return delta


class Softmax(Activation):
    """Output layer aᵢ = e^(zᵢ) / Σⱼ e^(zⱼ) per row (shifted by max z for stability).

    Backward (used only with ``mse``/``mae``; ``ce`` is fused): ∂J/∂z = a ⊙ (δ − Σⱼ δⱼ aⱼ).
    """

    def _activate(self, x: np.ndarray) -> None:
        row = self._buffer("row", (x.shape[0], 1))
        np.max(x, axis=1, keepdims=True, out=row)
        np.subtract(x, row, out=x)
        np.exp(x, out=x)
        np.sum(x, axis=1, keepdims=True, out=row)
        np.divide(x, row, out=x)

    def backward(self, delta: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        row = self._buffer("row", (delta.shape[0], 1))
        product = self._buffer("product", delta.shape)
        np.multiply(delta, self._out, out=product)
        np.sum(product, axis=1, keepdims=True, out=row)
        np.subtract(delta, row, out=delta)
        np.multiply(delta, self._out, out=delta)
        return delta


class BatchNorm(Layer):
    """Batch normalization (Ioffe & Szegedy 2015, Algorithm 1) over the features of a batch.

    Training:  μ = mean(x), σ² = mean((x − μ)²) over the batch ;  x̂ = (x − μ)/√(σ² + ε) ;  y = γ x̂ + β,
    and the running averages move as PyTorch's do (momentum m = 0.1, unbiased variance):
    μ_run ← (1 − m)μ_run + mμ ;  σ²_run ← (1 − m)σ²_run + m·σ²·n/(n − 1).
    Inference:  y = γ (x − μ_run)/√(σ²_run + ε) + β.
    Backward:  ∂J/∂x = γ/√(σ² + ε) · (δ − mean(δ) − x̂ · mean(δ ⊙ x̂)).
    The running averages are state (saved in checkpoints), not parameters: they are not part of θ.
    """

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = check_positive_int("num_features", num_features, owner="BatchNorm")
        self.momentum = check_probability("momentum", momentum, owner="BatchNorm", high_open=False)
        eps = check_real("eps", eps, owner="BatchNorm")
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"BatchNorm: eps={eps} must be a finite number > 0, e.g. 1e-5")
        self.eps = eps
        self.gamma: np.ndarray
        self.dgamma: np.ndarray
        self.beta: np.ndarray
        self.dbeta: np.ndarray
        self.running_mean = np.zeros(0)
        self.running_var = np.zeros(0)

    def build(self, input_dim: int, dtype: np.dtype) -> int:
        if input_dim != self.num_features:
            raise ValueError(
                f"BatchNorm(num_features={self.num_features}) receives {input_dim} features; "
                f"set num_features={input_dim}"
            )
        out = super().build(input_dim, dtype)
        self.running_mean = np.zeros(input_dim, dtype=dtype)
        self.running_var = np.ones(input_dim, dtype=dtype)
        return out

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"gamma": (self.num_features,), "beta": (self.num_features,)}

    def initialize(self, rng: np.random.Generator) -> None:
        self.gamma[...] = 1
        self.beta[...] = 0
        self.running_mean[...] = 0
        self.running_var[...] = 1

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def config(self) -> dict[str, Any]:
        return {"type": "BatchNorm", "num_features": self.num_features, "momentum": self.momentum, "eps": self.eps}

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        n, d = x.shape
        out = self._buffer("out", (n, d))
        if not training:
            scale = self.gamma / np.sqrt(self.running_var + self.eps)
            np.multiply(x, scale, out=out)
            np.add(out, self.beta - self.running_mean * scale, out=out)
            return out
        if n < 2:
            raise ValueError(
                f"{self.name}: batch normalization in training needs at least 2 samples per batch, got {n}; "
                f"use a larger batch_size"
            )
        mean = self._buffer("mean", (d,))
        var = self._buffer("var", (d,))
        inv_std = self._buffer("inv_std", (d,))
        x_hat = self._buffer("x_hat", (n, d))
        np.mean(x, axis=0, out=mean)
        np.subtract(x, mean, out=x_hat)
        np.multiply(x_hat, x_hat, out=out)
        np.mean(out, axis=0, out=var)
        np.add(var, self.eps, out=inv_std)
        np.sqrt(inv_std, out=inv_std)
        np.reciprocal(inv_std, out=inv_std)
        np.multiply(x_hat, inv_std, out=x_hat)
        np.multiply(x_hat, self.gamma, out=out)
        np.add(out, self.beta, out=out)
        m = self.momentum
        self.running_mean *= 1 - m
        self.running_mean += m * mean
        self.running_var *= 1 - m
        self.running_var += (m * n / (n - 1)) * var
        self._x_hat, self._inv_std = x_hat, inv_std
        return out

    def backward(self, delta: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        n = delta.shape[0]
        x_hat = self._x_hat
        product = self._buffer("product", delta.shape)
        np.sum(delta, axis=0, out=self.dbeta)
        np.multiply(delta, x_hat, out=product)
        np.sum(product, axis=0, out=self.dgamma)
        if not need_input_grad:
            return None
        # δ − mean(δ) − x̂·mean(δ ⊙ x̂), scaled by γ/√(σ² + ε); written over δ, which is no longer needed.
        np.multiply(x_hat, self.dgamma / n, out=product)
        np.subtract(delta, product, out=delta)
        np.subtract(delta, self.dbeta / n, out=delta)
        np.multiply(delta, self.gamma * self._inv_std, out=delta)
        return delta


class Dropout(Layer):
    """Inverted dropout (Srivastava et al. 2014): in training, each activation is kept with probability
    1 − p and scaled by 1/(1 − p), so inference (where the layer is the identity) needs no rescaling.

    The mask is drawn from the network's own generator (``net.rng``), whose state checkpoints save.
    """

    def __init__(self, rate: float = 0.5) -> None:
        super().__init__()
        self.rate = check_probability("rate", rate, owner="Dropout")
        self.rng: np.random.Generator | None = None  # set by the Network that owns the layer
        self._mask: np.ndarray | None = None

    def config(self) -> dict[str, Any]:
        return {"type": "Dropout", "rate": self.rate}

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        if self.rng is None:
            raise RuntimeError(f"{self.name or 'Dropout'}: the layer is not part of a Network (no generator)")
        mask = self._buffer("mask", x.shape)
        keep = self._buffer("keep", x.shape, np.bool_)
        self.rng.random(dtype=self.dtype, out=mask)
        np.greater_equal(mask, self.rate, out=keep)
        np.multiply(keep, 1.0 / (1.0 - self.rate), out=mask, dtype=self.dtype)
        out = self._buffer("out", x.shape)
        np.multiply(x, mask, out=out)
        self._mask = mask
        return out

    def backward(self, delta: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        if self._mask is not None:
            np.multiply(delta, self._mask, out=delta)
        return delta


LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Dense, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, BatchNorm, Dropout)
}
ACTIVATIONS: dict[str, type[Activation]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
}
