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
    Refused before anything is written: an optimizer whose state was made for another θ (another network, or
    a copy in another dtype), and a folder that does not exist.
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
    optimizer_state = None
    if optimizer is not None:
        optimizer_state = optimizer.state_dict()
        mismatch = _optimizer_mismatch(optimizer, optimizer_state["arrays"], net.params)
        if mismatch is not None:
            raise ValueError(f"{owner}: {mismatch}; pass the optimizer that steps net.params")
    target = _checkpoint_path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"{owner}: the folder {target.parent} does not exist; create it first: "
            f"Path({str(target.parent)!r}).mkdir(parents=True)"
        )

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
    if optimizer_state is not None:
        for key, value in optimizer_state.pop("arrays").items():
            arrays[f"optimizer/{key}"] = value
        meta["optimizer"] = optimizer_state
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
        contents = np.load(path, allow_pickle=False)
        if not isinstance(contents, np.ndarray):  # an .npz archive; a .npy file gives its one array
            with contents:
                return {key: contents[key] for key in contents.files}
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
        raise ValueError(f"{owner}: {path} is not a readable .npz checkpoint file ({error})") from error
    raise ValueError(f"{owner}: {path} is a single .npy array, not a descentlab checkpoint (.npz)")


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


def _damaged(path: Path, what: str) -> ValueError:
    return ValueError(f"dl.nn.load: {path} is damaged: {what}; save the checkpoint again with dl.nn.save")


def _metadata(arrays: dict[str, np.ndarray], path: Path) -> dict[str, Any]:
    """The metadata document, checked: a JSON object of this format and version with every key load reads."""
    owner = "dl.nn.load"
    if "metadata" not in arrays or "params" not in arrays:
        raise ValueError(f"{owner}: {path} is not a descentlab checkpoint (no metadata/params arrays)")
    try:
        meta = json.loads(str(arrays["metadata"]))
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict):
        raise ValueError(f"{owner}: {path} is not a descentlab checkpoint (unreadable metadata)")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(
            f"{owner}: {path} has format {meta.get('format')!r} version {meta.get('version')!r}; "
            f"this descentlab reads {FORMAT!r} version {VERSION}"
        )
    _check_keys(meta, _METADATA_KEYS, "metadata", path)
    return meta


def _network(meta: dict[str, Any], into: Network | None, path: Path) -> Network:
    """A network rebuilt from the saved architecture, or ``into`` once its architecture is found to match."""
    try:
        if into is None:
            return Network.from_config(meta["network"])
        mismatch = _first_mismatch(meta["network"], into)
    except (KeyError, TypeError, ValueError) as error:
        raise _damaged(path, f"its network record is refused ({type(error).__name__}: {error})") from error
    if mismatch is not None:
        raise ValueError(f"dl.nn.load: architecture mismatch: {mismatch}")
    return into


def _net_arrays(arrays: dict[str, np.ndarray], net: Network, path: Path) -> dict[str, np.ndarray]:
    """θ and the state arrays (batch norm running averages), each with exactly the shape and dtype of ``net``'s."""
    targets = {"params": net.params, **{f"state/{key}": array for key, array in net.state_arrays().items()}}
    for key, target in targets.items():
        if key not in arrays:
            raise _damaged(path, f"it has no {key!r} array")
        saved = arrays[key]
        if saved.shape != target.shape or saved.dtype != target.dtype:
            raise ValueError(
                f"dl.nn.load: {path}: {key} has shape {saved.shape} and dtype {saved.dtype}; the network expects "
                f"{target.shape} {target.dtype}"
            )
    return {key: arrays[key] for key in targets}


def _bit_generator(saved: Any, path: Path) -> np.random.BitGenerator:
    """A bit generator of the saved kind, in the saved state (the dropout masks continue where they were)."""
    state = _decode_state(saved)
    kind = getattr(np.random, str(state.get("bit_generator")), None) if isinstance(state, dict) else None
    if not (isinstance(kind, type) and issubclass(kind, np.random.BitGenerator)):
        raise _damaged(path, "its generator state names no NumPy bit generator")
    bit_generator = kind()
    try:
        bit_generator.state = state
    except (KeyError, TypeError, ValueError) as error:
        raise _damaged(path, f"its generator state is refused ({error})") from error
    return bit_generator


def _optimizer_mismatch(optimizer: Optimizer, arrays: dict[str, np.ndarray], params: np.ndarray) -> str | None:
    """What is wrong when the optimizer's state arrays were not made for θ (another network, another dtype)."""
    expected = optimizer._state_shape(params.shape)
    for key, array in arrays.items():
        if array.shape != expected or array.dtype != params.dtype:
            return (
                f"the optimizer state {key!r} has shape {array.shape} {array.dtype} but the network's θ is "
                f"{params.shape} {params.dtype}"
            )
    return None


def _optimizer(saved: Any, arrays: dict[str, np.ndarray], params: np.ndarray, path: Path) -> Optimizer | None:
    """The saved optimizer, rebuilt and checked by its own ``load_state_dict``, and against θ."""
    if saved is None:
        return None
    if not isinstance(saved, dict):
        raise _damaged(path, "its optimizer record is not a JSON object")
    _check_keys(saved, _OPTIMIZER_KEYS, "optimizer state", path)
    cls = _OPTIMIZER_CLASSES.get(saved["optimizer"])
    if cls is None:
        raise ValueError(
            f"dl.nn.load: unknown optimizer {saved['optimizer']!r} in {path}; known: {', '.join(_OPTIMIZER_CLASSES)}"
        )
    prefix = "optimizer/"
    state = {**saved, "arrays": {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}}
    try:
        optimizer = cls(**state["hyperparameters"])
        optimizer.load_state_dict(state)
    except (TypeError, ValueError) as error:
        raise ValueError(f"dl.nn.load: {path} holds an optimizer state that is refused: {error}") from error
    mismatch = _optimizer_mismatch(optimizer, state["arrays"], params)
    if mismatch is not None:
        raise ValueError(f"dl.nn.load: {path} pairs a network with an optimizer made for another one: {mismatch}")
    return optimizer


def _schedule(saved: Any, path: Path) -> schedules.Schedule | None:
    if saved is None:
        return None
    if not isinstance(saved, dict):
        raise _damaged(path, "its schedule record is not a JSON object")
    try:
        return schedules.from_state_dict(saved)
    except (KeyError, TypeError, ValueError) as error:
        reason = f"{type(error).__name__}: {error}"
        raise ValueError(f"dl.nn.load: {path} holds a schedule that is refused ({reason})") from error


def _extra(meta: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> dict[str, Any]:
    names = meta["extra_arrays"]
    if not isinstance(meta["extra"], dict) or not isinstance(names, list):
        raise _damaged(path, "its extras are not a JSON object and a list of array names")
    missing = [name for name in names if f"extra/{name}" not in arrays]
    if missing:
        raise _damaged(path, f"it has no {f'extra/{missing[0]}'!r} array")
    return {**meta["extra"], **{name: arrays[f"extra/{name}"] for name in names}}


def load(path: str | os.PathLike, into: Network | None = None) -> Checkpoint:
    """Read a checkpoint written by :func:`save`.

    Without ``into`` the network is rebuilt from the saved architecture. With ``into=net`` the values are
    copied into that network's existing arrays (views stay valid) after checking that the architecture
    matches; a mismatch raises ``ValueError`` naming the first differing layer and shape. Everything in the
    file (θ, running averages, generator, optimizer, schedule, extras) is checked before ``into`` is written,
    so a refused file leaves ``into`` as it was.
    """
    owner = "dl.nn.load"
    if into is not None and not isinstance(into, Network):
        raise TypeError(f"{owner}: into must be a descentlab.nn.Network, got {type(into).__name__}")
    path = Path(path)
    if not path.exists() and _checkpoint_path(path).exists():
        path = _checkpoint_path(path)
    arrays = _read(path)
    meta = _metadata(arrays, path)
    net = _network(meta, into, path)
    values = _net_arrays(arrays, net, path)
    bit_generator = _bit_generator(meta["rng"], path)
    optimizer = _optimizer(meta["optimizer"], arrays, values["params"], path)
    schedule = _schedule(meta["schedule"], path)
    extra = _extra(meta, arrays, path)

    net.params[...] = values["params"]
    for key, array in net.state_arrays().items():
        array[...] = values[f"state/{key}"]
    if type(net.rng.bit_generator) is type(bit_generator):
        net.rng.bit_generator.state = bit_generator.state  # the layers share this generator object
    else:
        net.rng = np.random.Generator(bit_generator)
        for layer in net.layers:
            if hasattr(layer, "rng"):
                layer.rng = net.rng
    return Checkpoint(net=net, optimizer=optimizer, schedule=schedule, extra=extra)
