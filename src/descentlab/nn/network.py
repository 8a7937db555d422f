"""The network: a stack of layers whose parameters are one flat vector θ.

``net.params`` is a single contiguous 1-D array holding every trainable number and ``net.grads`` its
gradient ∇θ J, same shape and dtype; each layer's ``W``, ``b`` (and batch norm's ``gamma``, ``beta``) are
views into them, laid out layer after layer as ``net.layout`` records. An optimizer therefore steps the
whole network with one call, ``opt.step(net.params, net.grads)``, in one pass over memory.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from descentlab._numbers import is_integer
from descentlab.nn._fused import kernels
from descentlab.nn._validation import (
    check_choice,
    check_dtype,
    check_inputs,
    check_nonnegative,
    check_positive_int,
    check_probability,
)
from descentlab.nn.initializers import Initializer
from descentlab.nn.layers import (
    ACTIVATIONS,
    LAYERS,
    Activation,
    BatchNorm,
    Dense,
    Dropout,
    Layer,
    Sigmoid,
    Softmax,
)
from descentlab.nn.losses import Loss, Targets, get_loss

OUTPUTS = ("sigmoid", "softmax", "linear")
#: Work buffers are kept for this many distinct batch sizes (training batch, last batch, evaluation set…).
CACHED_BATCH_SIZES = 4


@dataclass(frozen=True)
class ParamRecord:
    """Where one parameter array lives in θ: ``params[offset:offset + size].reshape(shape)``."""

    layer: str
    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def slice(self) -> slice:
        return slice(self.offset, self.offset + self.size)


def _generators(seed: int | np.random.Generator, owner: str) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent generators: one for initialization, one the network keeps (dropout masks)."""
    if isinstance(seed, np.random.Generator):
        init_rng, own_rng = seed.spawn(2)
        return init_rng, own_rng
    if not is_integer(seed) or seed < 0:
        raise TypeError(f"{owner}: seed={seed!r} must be an integer ≥ 0 or a numpy.random.Generator")
    init_seq, own_seq = np.random.SeedSequence(int(seed)).spawn(2)
    return np.random.default_rng(init_seq), np.random.default_rng(own_seq)


class Network:
    """A feed-forward network over a flat parameter vector.

    ``layers`` are applied in order. When the last layer is a :class:`Sigmoid` or :class:`Softmax` it is the
    *output activation*: :meth:`forward` stops before it (returning logits), the fused losses ``bce``/``ce``
    absorb it, and :meth:`predict_proba` applies it. Otherwise the output is linear.

    Args:
        layers: the layer objects (each may belong to one network only).
        input_dim: features per sample; inferred from the first :class:`Dense` when omitted.
        dtype: ``"float32"`` (fast training) or ``"float64"`` (gradient checks); θ, ∇θ, every buffer and
            every computation use it — inputs of another dtype are converted, never computed in float64.
        seed: integer or ``np.random.Generator``: initial weights and the dropout generator ``net.rng``.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        *,
        input_dim: int | None = None,
        dtype: str | np.dtype = "float32",
        seed: int | np.random.Generator = 0,
    ) -> None:
        owner = "Network"
        layers = list(layers)
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise TypeError(f"{owner}: layers must be a non-empty list of Layer objects, got {layers!r}")
        if len({id(layer) for layer in layers}) != len(layers) or any(layer.name for layer in layers):
            raise ValueError(f"{owner}: each layer object may appear once and in one network only")
        self.dtype = check_dtype(dtype, owner=owner)
        if input_dim is None:
            first_dense = next((layer for layer in layers if isinstance(layer, Dense)), None)
            if first_dense is None:
                raise ValueError(f"{owner}: give input_dim= (there is no Dense layer to infer it from)")
            input_dim = first_dense.fan_in
        self.input_dim = check_positive_int("input_dim", input_dim, owner=owner)
        init_rng, self.rng = _generators(seed, owner)
        self.layers = layers
        self._output_layer: Activation | None = layers[-1] if isinstance(layers[-1], (Sigmoid, Softmax)) else None
        self._body = layers[:-1] if self._output_layer is not None else layers

        counts: dict[str, int] = {}
        width = self.input_dim
        layout: list[ParamRecord] = []
        offset = 0
        names = []
        for layer in layers:
            kind = type(layer).__name__.lower()
            names.append(f"{kind}{counts.get(kind, 0)}")
            counts[kind] = counts.get(kind, 0) + 1
            width = layer.build(width, self.dtype)
            for key, shape in layer.param_shapes().items():
                layout.append(ParamRecord(names[-1], key, tuple(shape), offset))
                offset += math.prod(shape)
        if isinstance(self._output_layer, Softmax) and width < 2:
            raise ValueError(f"{owner}: a softmax output needs at least 2 units, got {width}; use a sigmoid output")
        # Only a network that was built claims its layers (a failed construction leaves them reusable).
        for layer, name in zip(layers, names, strict=True):
            layer.name = name
            if isinstance(layer, Dropout):
                layer.rng = self.rng
        self.output_dim = width
        self.layout = layout
        self.params = np.zeros(offset, dtype=self.dtype)
        self.grads = np.zeros(offset, dtype=self.dtype)
        by_layer = {layer.name: layer for layer in layers}
        views: dict[str, tuple[dict, dict]] = {layer.name: ({}, {}) for layer in layers}
        for record in layout:
            views[record.layer][0][record.name] = self.params[record.slice].reshape(record.shape)
            views[record.layer][1][record.name] = self.grads[record.slice].reshape(record.shape)
        for name, (params, grads) in views.items():
            by_layer[name].bind(params, grads)
        for layer in layers:
            layer.initialize(init_rng)
        self._parametrized = [layer for layer in layers if layer.param_shapes()]
        first = next((i for i, layer in enumerate(self._body) if layer.param_shapes()), len(self._body))
        self._first_parametrized = first
        self._batch_sizes: OrderedDict[int, None] = OrderedDict()
        self._scratch_buffers: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}

    # -- description --------------------------------------------------------------------------------------
    @property
    def output(self) -> str:
        """The output activation: ``"sigmoid"``, ``"softmax"`` or ``"linear"``."""
        if self._output_layer is None:
            return "linear"
        return "sigmoid" if isinstance(self._output_layer, Sigmoid) else "softmax"

    @property
    def n_params(self) -> int:
        """Number of trainable parameters P (θ ∈ ℝᴾ)."""
        return int(self.params.size)

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Network([{inner}], dtype={self.dtype.name!r})  # {self.n_params} parameters"

    def summary(self) -> str:
        """A table of the layers: name, output shape (n = batch size), parameter count."""
        rows = [("layer", "type", "output shape", "params")]
        rows.append(("input", "", f"(n, {self.input_dim})", ""))
        for layer in self.layers:
            count = sum(math.prod(shape) for shape in layer.param_shapes().values())
            rows.append((layer.name, repr(layer), f"(n, {layer.output_dim})", f"{count:,}"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(
                cell.ljust(width) if column < 3 else cell.rjust(width)
                for column, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        rule = "-" * len(lines[0])
        size = f"{self.dtype.name}, {self.params.nbytes / 1024:.1f} KiB"
        total = f"total: {self.n_params:,} parameters ({size}); output {self.output}"
        return "\n".join([lines[0], rule, *lines[1:], rule, total])

    def config(self) -> dict[str, Any]:
        """The architecture as JSON-ready data (what a checkpoint stores to rebuild the network)."""
        return {
            "input_dim": self.input_dim,
            "dtype": self.dtype.name,
            "layers": [layer.config() for layer in self.layers],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], *, seed: int | np.random.Generator = 0) -> Network:
        """Rebuild the architecture of :meth:`config` (parameters freshly initialized; load them after)."""
        layers = []
        for spec in config["layers"]:
            spec = dict(spec)
            kind = spec.pop("type", None)
            if kind not in LAYERS:
                raise ValueError(f"unknown layer type {kind!r} in the configuration; known: {', '.join(LAYERS)}")
            label = spec.pop("init", None) if kind == "Dense" else None
            layer = LAYERS[kind](**spec, **({"init": "zeros"} if kind == "Dense" else {}))
            if label is not None:
                layer.init_label = label  # the values are loaded afterwards; the name is kept as a record
            layers.append(layer)
        return cls(layers, input_dim=config["input_dim"], dtype=config["dtype"], seed=seed)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Non-parameter state by ``"layer.name"`` (batch norm running averages); the arrays themselves."""
        return {f"{layer.name}.{key}": array for layer in self.layers for key, array in layer.state_arrays().items()}

    def param_groups(self) -> dict[str, slice]:
        """Per parameterised layer, its slice of θ: ``net.params[net.param_groups()["dense0"]]``."""
        groups: dict[str, slice] = {}
        for record in self.layout:
            start = groups[record.layer].start if record.layer in groups else record.offset
            groups[record.layer] = slice(start, record.offset + record.size)
        return groups

    # -- buffers ------------------------------------------------------------------------------------------
    def _use_batch_size(self, n: int) -> None:
        if n in self._batch_sizes:
            self._batch_sizes.move_to_end(n)
            return
        self._batch_sizes[n] = None
        while len(self._batch_sizes) > CACHED_BATCH_SIZES:
            old, _ = self._batch_sizes.popitem(last=False)
            for layer in self.layers:
                layer.release(old)
            for key in [k for k in self._scratch_buffers if k[1][0] == old]:
                del self._scratch_buffers[key]

    def _scratch(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        buffer = self._scratch_buffers.get((key, shape))
        if buffer is None:
            buffer = np.empty(shape, dtype=self.dtype)
            self._scratch_buffers[(key, shape)] = buffer
        return buffer

    def release_buffers(self) -> None:
        """Free every work buffer (they are recreated on the next forward pass)."""
        for layer in self.layers:
            layer.release()
        self._scratch_buffers.clear()
        self._batch_sizes.clear()

    # -- computation --------------------------------------------------------------------------------------
    def _forward(self, X: np.ndarray, training: bool) -> np.ndarray:
        """Logits for validated X; returns an internal buffer (overwritten by the next call)."""
        self._use_batch_size(X.shape[0])
        fused = kernels(self.dtype)
        for layer in self.layers:
            layer.fused = fused
        # Layers may hand X on unchanged (dropout at inference or of rate 0); until one writes a buffer of its own,
        # ``a`` is still the caller's array, which an in-place layer, or the loss on the logits, must not overwrite.
        # It is copied only then: a network that starts with a Dense layer never copies X.
        a = X
        for layer in self._body:
            if layer.in_place and np.may_share_memory(a, X):
                a = self._input_copy(X)
            a = layer.forward(a, training)
        if np.may_share_memory(a, X):
            a = self._input_copy(X)
        return a

    def _input_copy(self, X: np.ndarray) -> np.ndarray:
        copy = self._scratch("input", X.shape)
        np.copyto(copy, X)
        return copy

    def _backward(self, delta: np.ndarray) -> None:
        first = self._first_parametrized
        for index in range(len(self._body) - 1, first - 1, -1):
            delta = self._body[index].backward(delta, need_input_grad=index > first)

    def _prepare(self, X: Any, y: Any, loss: str | Loss, owner: str) -> tuple[np.ndarray, Loss, Targets]:
        loss_fn = get_loss(loss, owner=owner)
        if loss_fn.output is not None and loss_fn.output != self.output:
            fix = {"sigmoid": "loss='bce'", "softmax": "loss='ce'", "linear": "loss='mse' or loss='mae'"}[self.output]
            raise ValueError(
                f"{owner}: loss={loss_fn.name!r} is fused with a {loss_fn.output} output, but this network's "
                f"output is {self.output!r}; use {fix}, or build the network with output={loss_fn.output!r}"
            )
        X = check_inputs(X, self.input_dim, self.dtype, owner=owner)
        return X, loss_fn, loss_fn.targets(y, X.shape[0], self.output_dim, self.dtype, owner)

    def loss_and_grad(self, X: Any, y: Any, loss: str = "bce", l2: float = 0.0) -> float:
        """One training-mode forward and backward pass: fill ``net.grads`` with ∇θ J and return J.

        Training mode: batch norm uses the batch's statistics (and updates its running averages), dropout
        draws a fresh mask from ``net.rng``. ``l2 = λ`` adds (λ/2) Σ ‖W‖² over the weights (not biases,
        not batch norm's γ, β) to J and λW to ∂J/∂W. See :mod:`descentlab.nn.losses` for the losses.
        """
        owner = "Network.loss_and_grad"
        l2 = check_nonnegative("l2", l2, owner=owner)
        X, loss_fn, targets = self._prepare(X, y, loss, owner)
        return self._loss_and_grad(X, targets, loss_fn, l2)

    def _loss_and_grad(self, X: np.ndarray, targets: Targets, loss_fn: Loss, l2: float) -> float:
        """:meth:`loss_and_grad` on inputs already checked: ``X`` of the network's dtype and width with finite
        entries, ``targets`` as ``loss_fn.targets`` returns them. ``fit`` checks its data set once and then
        calls this per batch (the per-call check is a pass over the batch, ~5% of an epoch)."""
        z = self._forward(X, training=True)
        value, delta = loss_fn.evaluate(z, targets, self._output_layer, self._scratch, want_grad=True)
        self._backward(delta)
        if l2:
            value += self._l2_penalty(l2, gradient=True)
        return value

    def loss(self, X: Any, y: Any, loss: str = "bce", l2: float = 0.0) -> float:
        """J in inference mode (batch norm running averages, no dropout); gradients untouched."""
        owner = "Network.loss"
        l2 = check_nonnegative("l2", l2, owner=owner)
        X, loss_fn, targets = self._prepare(X, y, loss, owner)
        z = self._forward(X, training=False)
        value, _ = loss_fn.evaluate(z, targets, self._output_layer, self._scratch, want_grad=False)
        return value + (self._l2_penalty(l2, gradient=False) if l2 else 0.0)

    def _training_loss(self, X: np.ndarray, loss_fn: Loss, targets: Targets, l2: float) -> float:
        """J in training mode without the backward pass (used by the gradient check)."""
        z = self._forward(X, training=True)
        value, _ = loss_fn.evaluate(z, targets, self._output_layer, self._scratch, want_grad=False)
        return value + (self._l2_penalty(l2, gradient=False) if l2 else 0.0)

    def _l2_penalty(self, l2: float, gradient: bool) -> float:
        total = 0.0
        for layer in self._parametrized:
            for key in layer.decayed:
                weight = getattr(layer, key)
                flat = weight.reshape(-1)
                total += float(np.dot(flat, flat))
                if gradient:
                    grad = getattr(layer, "d" + key)
                    scaled = self._scratch("l2", weight.shape)
                    np.multiply(weight, l2, out=scaled)
                    np.add(grad, scaled, out=grad)
        return 0.5 * l2 * total

    def forward(self, X: Any, training: bool = False) -> np.ndarray:
        """The raw output z of shape (n, outputs): logits for sigmoid/softmax outputs (a new array).

        ``training=True`` runs batch norm on batch statistics (updating its running averages) and dropout.
        """
        X = check_inputs(X, self.input_dim, self.dtype, owner="Network.forward", use="predicting")
        return self._forward(X, bool(training)).copy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Output probabilities in inference mode: shape (n,) for one sigmoid unit, else (n, outputs)."""
        if self._output_layer is None:
            raise ValueError(
                "Network.predict_proba: this network has a linear output (no probabilities); use predict()"
            )
        X = check_inputs(X, self.input_dim, self.dtype, owner="Network.predict_proba", use="predicting")
        return self._probabilities(X)

    def _probabilities(self, X: np.ndarray) -> np.ndarray:
        """:meth:`predict_proba` on inputs already checked, for a sigmoid or softmax output."""
        probabilities = self._forward(X, training=False).copy()
        self._output_layer.forward(probabilities, training=False)
        return probabilities[:, 0] if self.output_dim == 1 else probabilities

    def predict(self, X: Any) -> np.ndarray:
        """Inference: class labels (sigmoid: p ≥ 0.5, softmax: argmax) or values (linear output).

        Shape (n,) for one output unit or a softmax; (n, outputs) for multi-label sigmoid or multi-output linear.
        """
        X = check_inputs(X, self.input_dim, self.dtype, owner="Network.predict", use="predicting")
        if self.output == "linear":
            values = self._forward(X, training=False).copy()
            return values[:, 0] if self.output_dim == 1 else values
        probabilities = self._probabilities(X)
        if self.output == "softmax":
            return np.argmax(probabilities, axis=1)
        return (probabilities >= 0.5).astype(np.intp)

    # -- diagnostics --------------------------------------------------------------------------------------
    def layer_stats(self) -> list[dict[str, Any]]:
        """Per hidden activation layer, statistics of its activations in the last forward pass.

        Each entry: ``layer`` (name), ``mean``, ``std`` (over all units and samples), ``dead_fraction`` (units
        whose activation is 0 for every sample of the batch: dead ReLUs), ``zero_fraction`` (activations
        exactly 0). Empty before the first forward pass.
        """
        stats = []
        for layer in self._body:
            if not isinstance(layer, Activation) or layer.last_output is None:
                continue
            a = layer.last_output
            zero = a == 0
            stats.append(
                {
                    "layer": layer.name,
                    "mean": float(a.mean()),
                    "std": float(a.std()),
                    "dead_fraction": float(np.all(zero, axis=0).mean()),
                    "zero_fraction": float(zero.mean()),
                }
            )
        return stats

    def layer_grad_norms(self) -> dict[str, dict[str, float]]:
        """Per parameterised layer, the Euclidean norm of each gradient array from ``net.grads``."""
        norms: dict[str, dict[str, float]] = {}
        for record in self.layout:
            flat = self.grads[record.slice]
            norms.setdefault(record.layer, {})[record.name] = math.sqrt(float(np.dot(flat, flat)))
        return norms

    # -- state shared by gradient checks and checkpoints --------------------------------------------------
    def _snapshot(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return self.rng.bit_generator.state, {k: v.copy() for k, v in self.state_arrays().items()}

    def _restore(self, snapshot: tuple[dict[str, Any], dict[str, np.ndarray]]) -> None:
        rng_state, arrays = snapshot
        self.rng.bit_generator.state = rng_state
        for key, array in self.state_arrays().items():
            array[...] = arrays[key]


def mlp(
    sizes: Sequence[int] | np.ndarray,
    activation: str = "relu",
    output: str = "sigmoid",
    init: str | Initializer = "he",
    seed: int | np.random.Generator = 0,
    batch_norm: bool = False,
    dropout: float = 0.0,
    dtype: str | np.dtype = "float32",
) -> Network:
    """A multilayer perceptron ``sizes = [n_x, n_h1, …, n_y]`` (a list, tuple or 1-D integer array).

    Each hidden block is Dense → [BatchNorm] → activation → [Dropout]; the head is Dense → output activation.
    With ``batch_norm`` the hidden Dense layers have no bias (β replaces it). Example::

        net = dl.nn.mlp([2, 16, 16, 1], activation="relu", output="sigmoid", init="he", seed=0)
    """
    owner = "mlp"
    if isinstance(sizes, np.ndarray):
        if sizes.ndim != 1:
            raise TypeError(
                f"{owner}: sizes must be a 1-D list of layer widths such as [2, 16, 1], got an array of shape "
                f"{sizes.shape}"
            )
        sizes = sizes.tolist()
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(
            f"{owner}: sizes={sizes!r} must be a list of layer widths [input, hidden…, output] such as [2, 16, 1]"
        )
    if len(sizes) < 2:
        raise ValueError(f"{owner}: sizes={sizes!r} must list at least the input and output widths, e.g. [2, 16, 1]")
    sizes = [check_positive_int(f"sizes[{i}]", size, owner=owner) for i, size in enumerate(sizes)]
    check_choice("activation", activation, ACTIVATIONS, owner=owner)
    check_choice("output", output, OUTPUTS, owner=owner)
    dropout = check_probability("dropout", dropout, owner=owner)
    layers: list[Layer] = []
    for fan_in, fan_out in itertools.pairwise(sizes[:-1]):
        layers.append(Dense(fan_in, fan_out, init=init, bias=not batch_norm))
        if batch_norm:
            layers.append(BatchNorm(fan_out))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(Dropout(dropout))
    layers.append(Dense(sizes[-2], sizes[-1], init=init))
    if output == "sigmoid":
        layers.append(Sigmoid())
    elif output == "softmax":
        layers.append(Softmax())
    return Network(layers, input_dim=sizes[0], dtype=dtype, seed=seed)
