"""MNIST and Fashion-MNIST from the standard IDX files on disk (this module never downloads anything).

IDX format (LeCun et al., the MNIST distribution): a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then
``ndim`` big-endian uint32 dimension sizes, then the values in row-major order, big-endian. Type codes:
0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. MNIST and Fashion-MNIST use the
same four file names, either raw or gzip-compressed (``.gz``):

    train-images-idx3-ubyte   train-labels-idx1-ubyte   t10k-images-idx3-ubyte   t10k-labels-idx1-ubyte
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

GZIP_SIGNATURE = b"\x1f\x8b"
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
FILE_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SOURCES = {
    "mnist": "MNIST (LeCun, Cortes & Burges)",
    "fashion": "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, github.com/zalandoresearch/fashion-mnist)",
}
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (raw, or gzip when the name ends in ``.gz``) into an array of its own type and shape."""
    path = Path(path)
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise ValueError(
                f"read_idx: {path} is a damaged gzip file ({error}); download it again, or drop the .gz from the "
                f"name if it is a raw IDX file"
            ) from error
    else:
        raw = path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        hint = "; it is gzip-compressed: name it with .gz" if raw.startswith(GZIP_SIGNATURE) else ""
        raise ValueError(f"read_idx: {path} is not an IDX file (magic bytes {raw[:4].hex() or 'missing'}){hint}")
    if raw[2] not in IDX_TYPES:
        known = ", ".join(f"0x{code:02X} {np.dtype(kind).name}" for code, kind in IDX_TYPES.items())
        raise ValueError(f"read_idx: {path} has the unknown IDX type code 0x{raw[2]:02X}; known: {known}")
    dtype = np.dtype(IDX_TYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path} ends inside its header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"read_idx: {path} has {len(raw)} bytes but its header announces shape {shape} of {dtype.name} "
            f"({expected} bytes); the file is truncated or corrupt"
        )
    values = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def load_idx(
    directory: str | os.PathLike,
    kind: str = "mnist",
    split: str = "train",
    flatten: bool = True,
    normalize: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST or Fashion-MNIST (``kind``) images and labels of one ``split`` from IDX files in ``directory``.

    Returns ``(X, y)``: X of shape (n, 784) when ``flatten`` (else (n, 28, 28)), float32 scaled to [0, 1]
    when ``normalize`` (else the raw uint8 pixels); y int64 in 0…9. Missing files raise
    ``FileNotFoundError`` naming the expected file names; nothing is downloaded. Files that are not uint8, or
    labels above 9, raise ``ValueError`` naming the file.
    """
    owner = "load_idx"
    if kind not in SOURCES:
        raise ValueError(f"{owner}: kind={kind!r} is not one of {', '.join(map(repr, SOURCES))}")
    if split not in FILE_STEMS:
        raise ValueError(f"{owner}: split={split!r} is not one of {', '.join(map(repr, FILE_STEMS))}")
    directory = Path(directory)
    paths = [_find(directory, stem) for stem in FILE_STEMS[split]]
    if any(path is None for path in paths):
        missing = [stem for stem, path in zip(FILE_STEMS[split], paths, strict=True) if path is None]
        raise FileNotFoundError(
            f"{owner}: {directory} lacks {' and '.join(missing)} (raw, or with .gz): the {split} split of "
            f"{SOURCES[kind]} is expected as the files {' and '.join(FILE_STEMS[split])} (.gz allowed). "
            f"descentlab does not download data: fetch the four IDX files yourself and point directory= at them"
        )
    images = read_idx(paths[0])
    labels = read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{owner}: images of shape {images.shape} and labels of shape {labels.shape} do not pair up; "
            f"expected (n, rows, cols) images and n labels"
        )
    for path, values in zip(paths, (images, labels), strict=True):
        if values.dtype != np.uint8:
            raise ValueError(
                f"{owner}: {path} holds {values.dtype} values; MNIST and Fashion-MNIST files hold uint8 (IDX type "
                f"code 0x08): check that the file is one of theirs"
            )
    if labels.size and labels.max() > 9:
        raise ValueError(
            f"{owner}: {paths[1]} holds the label {labels.max()}; MNIST and Fashion-MNIST labels are 0…9: check "
            f"that the file is one of theirs"
        )
    X = images.reshape(images.shape[0], -1) if flatten else images
    if normalize:
        X = X.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(X), labels.astype(np.int64)
