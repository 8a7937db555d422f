"""Checkpoints: a network, and optionally its optimizer, schedule and extra data, in one ``.npz`` file.

The file holds plain arrays only (θ as ``params``, batch norm running averages, optimizer state arrays,
array-valued extras) and one JSON document, ``metadata``: the architecture, the parameter layout, the
dropout generator's state, the optimizer's hyperparameters and step count, the schedule's state and the
JSON-valued extras. Nothing is pickled, and :func:`load` refuses files that contain pickled objects
(``np.load(..., allow_pickle=False)``). Saving and loading restores everything a training step reads, so
training resumed from a checkpoint continues bit for bit as if it had never stopped.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from descentlab.nn.network import Network
from descentlab.optim import OPTIMIZERS, Optimizer, schedules

FORMAT = "descentlab.nn checkpoint"
VERSION = 1
#: The first bytes of what :func:`load` opens: a zip archive (an .npz; the second form is an empty archive)
#: or a single .npy array (refused with its own message). Anything else is not handed to ``np.load``, which
#: would try to read it as a pickle.
_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")
#: The keys of the metadata document, and of its optimizer record, that :func:`load` reads.
_METADATA_KEYS = ("network", "rng", "optimizer", "schedule", "extra", "extra_arrays")
_OPTIMIZER_KEYS = ("optimizer", "hyperparameters", "step", "scalars")
_OPTIMIZER_CLASSES = {cls.__name__: cls for cls in OPTIMIZERS.values()}


@dataclass
class Checkpoint:
    """What :func:`load` returns: the network, the optimizer and schedule (or None), and the extras."""

    net: Network
    optimizer: Optimizer | None = None
    schedule: schedules.Schedule | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _encode_state(value: Any) -> Any:
    """A bit generator's state as JSON-ready data (MT19937 keeps a uint32 array in it)."""
    if isinstance(value, dict):
        return {key: _encode_state(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.name}
    return value


def _decode_state(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.array(value["__ndarray__"], dtype=value["dtype"])
        return {key: _decode_state(item) for key, item in value.items()}
    return value


def _checkpoint_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def save(
    path: str | os.PathLike,
    net: Network,
    optimizer: Optimizer | None = None,
    schedule: schedules.Schedule | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint to ``path`` (``.npz`` is appended when missing); return the path written.

    ``extra`` maps names to JSON-ready values or NumPy arrays (a training history, an epoch counter…).
    The file is written to a temporary name and then renamed, so an interrupted save leaves no half file.
    """
    owner = "dl.nn.save"
    if not isinstance(net, Network):
        raise TypeError(f"{owner}: net must be a descentlab.nn.Network, got {type(net).__name__}")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"{owner}: optimizer must be a descentlab.optim optimizer, got {type(optimizer).__name__}")
    if schedule is not None and not isinstance(schedule, schedules.Schedule):
        raise TypeError(
            f"{owner}: schedule must be a descentlab.optim.schedules schedule, got {type(schedule).__name__}"
        )
    extra = {} if extra is None else extra
    if not isinstance(extra, dict) or not all(isinstance(key, str) for key in extra):
        raise TypeError(f"{owner}: extra must be a dict with string keys, got {type(extra).__name__}")

    arrays: dict[str, np.ndarray] = {"params": net.params}
    arrays.update({f"state/{key}": value for key, value in net.state_arrays().items()})
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "network": net.config(),
        "layout": [[r.layer, r.name, list(r.shape), r.offset] for r in net.layout],
        "rng": _encode_state(net.rng.bit_generator.state),
        "optimizer": None,
        "schedule": None if schedule is None else schedule.state_dict(),
        "extra": {},
        "extra_arrays": [],
    }
    if optimizer is not None:
        state = optimizer.state_dict()
        for key, value in state.pop("arrays").items():
            arrays[f"optimizer/{key}"] = value
        meta["optimizer"] = state
    for key, value in extra.items():
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biufc":
                raise TypeError(f"{owner}: extra[{key!r}] has dtype {value.dtype}; only numeric arrays are saved")
            arrays[f"extra/{key}"] = value
            meta["extra_arrays"].append(key)
        else:
            meta["extra"][key] = value
    try:
        text = json.dumps(meta, default=_json_default)
    except TypeError as error:
        raise TypeError(f"{owner}: extra values must be JSON-ready or NumPy arrays ({error})") from error
    arrays["metadata"] = np.array(text)

    target = _checkpoint_path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()
    return target


def _read(path: Path) -> dict[str, np.ndarray]:
    owner = "dl.nn.load"
    with open(path, "rb") as handle:
        head = handle.read(max(map(len, _SIGNATURES)))
    if not head.startswith(_SIGNATURES):
        what = "it is empty" if not head else f"it starts with {head[:4]!r}, not the zip signature b'PK\\x03\\x04'"
        raise ValueError(f"{owner}: {path} is not an .npz checkpoint file ({what}); give a file written by dl.nn.save")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError(f"{owner}: {path} is a single .npy array, not a descentlab checkpoint (.npz)")
            return {key: data[key] for key in data.files}
    except zipfile.BadZipFile as error:
        raise ValueError(
            f"{owner}: {path} is not a readable .npz checkpoint file (damaged zip archive: {error})"
        ) from error
    except ValueError as error:
        if "pickle" in str(error):
            raise ValueError(
                f"{owner}: {path} contains pickled objects; descentlab checkpoints hold plain arrays only and "
                f"pickled content is refused (it can run arbitrary code when loaded)"
            ) from error
        raise


def _check_keys(record: dict[str, Any], keys: tuple[str, ...], where: str, path: Path) -> None:
    missing = [key for key in keys if key not in record]
    if missing:
        raise ValueError(
            f"dl.nn.load: {path} is damaged: its {where} has no {missing[0]!r} entry "
            f"(expected {', '.join(map(repr, keys))}); save the checkpoint again with dl.nn.save"
        )


def _first_mismatch(saved: dict[str, Any], net: Network) -> str | None:
    if saved["input_dim"] != net.input_dim:
        return f"the checkpoint's input width is {saved['input_dim']}, the network's is {net.input_dim}"
    if saved["dtype"] != net.dtype.name:
        return f"the checkpoint holds {saved['dtype']} parameters, the network is {net.dtype.name}"
    ours = net.config()["layers"]
    for index, (theirs, mine) in enumerate(zip(saved["layers"], ours, strict=False)):
        name = net.layers[index].name
        if theirs["type"] != mine["type"]:
            return f"layer {index} ({name}): the checkpoint has {theirs['type']}, the network has {mine['type']}"
        if mine["type"] == "Dense":
            theirs_shape, mine_shape = (theirs["fan_in"], theirs["fan_out"]), (mine["fan_in"], mine["fan_out"])
            if theirs_shape != mine_shape:
                return f"layer {name!r}: the checkpoint has W of shape {theirs_shape}, the network has {mine_shape}"
        for key in sorted((set(theirs) | set(mine)) - {"init"}):
            if theirs.get(key) != mine.get(key):
                return (
                    f"layer {name!r}: the checkpoint has {key}={theirs.get(key)!r}, the network has {mine.get(key)!r}"
                )
    if len(saved["layers"]) != len(ours):
        return f"the checkpoint has {len(saved['layers'])} layers, the network has {len(ours)}"
    return None


def load(path: str | os.PathLike, into: Network | None = None) -> Checkpoint:
    """Read a checkpoint written by :func:`save`.

    Without ``into`` the network is rebuilt from the saved architecture. With ``into=net`` the values are
    copied into that network's existing arrays (views stay valid) after checking that the architecture
    matches; a mismatch raises ``ValueError`` naming the first differing layer and shape.
    """
    owner = "dl.nn.load"
    path = Path(path)
    if not path.exists() and _checkpoint_path(path).exists():
        path = _checkpoint_path(path)
    arrays = _read(path)
    if "metadata" not in arrays or "params" not in arrays:
        raise ValueError(f"{owner}: {path} is not a descentlab checkpoint (no metadata/params arrays)")
    meta = json.loads(str(arrays["metadata"]))
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(
            f"{owner}: {path} has format {meta.get('format')!r} version {meta.get('version')!r}; "
            f"this descentlab reads {FORMAT!r} version {VERSION}"
        )
    _check_keys(meta, _METADATA_KEYS, "metadata", path)
    if into is None:
        net = Network.from_config(meta["network"])
    else:
        if not isinstance(into, Network):
            raise TypeError(f"{owner}: into must be a descentlab.nn.Network, got {type(into).__name__}")
        mismatch = _first_mismatch(meta["network"], into)
        if mismatch is not None:
            raise ValueError(f"{owner}: architecture mismatch: {mismatch}")
        net = into
    params = arrays["params"]
    if params.shape != net.params.shape or params.dtype != net.params.dtype:
        raise ValueError(
            f"{owner}: params has shape {params.shape} and dtype {params.dtype}; the network expects "
            f"{net.params.shape} {net.params.dtype}"
        )
    net.params[...] = params
    for key, array in net.state_arrays().items():
        array[...] = arrays[f"state/{key}"]
    rng_state = _decode_state(meta["rng"])
    if type(net.rng.bit_generator).__name__ != rng_state["bit_generator"]:
        bit_generator = getattr(np.random, rng_state["bit_generator"])()
        net.rng = np.random.Generator(bit_generator)
        for layer in net.layers:
            if hasattr(layer, "rng"):
                layer.rng = net.rng
    net.rng.bit_generator.state = rng_state

    optimizer = None
    if meta["optimizer"] is not None:
        state = dict(meta["optimizer"])
        _check_keys(state, _OPTIMIZER_KEYS, "optimizer state", path)
        cls = _OPTIMIZER_CLASSES.get(state["optimizer"])
        if cls is None:
            raise ValueError(f"{owner}: unknown optimizer {state['optimizer']!r} in {path}")
        prefix = "optimizer/"
        state["arrays"] = {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}
        optimizer = cls(**state["hyperparameters"])
        optimizer.load_state_dict(state)
    schedule = None if meta["schedule"] is None else schedules.from_state_dict(meta["schedule"])
    extra = dict(meta["extra"])
    extra.update({key: arrays[f"extra/{key}"] for key in meta["extra_arrays"]})
    return Checkpoint(net=net, optimizer=optimizer, schedule=schedule, extra=extra)
