"""descentlab.data: synthetic problems, bundled sets, MNIST-1D, IDX files, preprocessing and batching."""

from __future__ import annotations

import gzip
import json
import random
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import data

SYNTHETIC = ["moons", "circles", "spirals", "xor", "blobs", "sine"]


# -- synthetic problems -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_is_seeded_shaped_and_balanced(name):
    info = data.DATASETS[name]
    X, y = data.load(name, n_samples=101, noise=0.1, seed=3)
    X2, y2 = info.loader(n_samples=101, noise=0.1, seed=3)
    X3, _ = info.loader(n_samples=101, noise=0.1, seed=4)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert not np.array_equal(X, X3)
    assert X.shape == (101, info.n_features) and X.dtype == np.float64 and y.shape == (101,)
    if info.task == "regression":
        assert y.dtype == np.float64
    else:
        assert y.dtype == np.int64
        counts = np.bincount(y, minlength=info.n_outputs)
        assert len(counts) == info.n_outputs
        if name != "xor":  # XOR labels follow the drawn points; the others are balanced by construction
            assert counts.max() - counts.min() <= 1


def test_synthetic_geometry_without_noise():
    X, y = data.moons(n_samples=200, noise=0.0, seed=0)
    upper = X[y == 0]
    assert np.allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    X, y = data.circles(n_samples=200, noise=0.0, seed=0, factor=0.3)
    radii = np.hypot(X[:, 0], X[:, 1])
    assert np.allclose(radii[y == 0], 1.0) and np.allclose(radii[y == 1], 0.3)
    X, y = data.xor(n_samples=200, noise=0.0, seed=0)
    assert np.array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(int))
    X, y = data.sine(n_samples=50, noise=0.0, seed=0)
    assert np.allclose(y, np.sin(X[:, 0]))
    X, y = data.blobs(n_samples=90, noise=0.0, seed=0, n_classes=3, radius=2.0)
    assert np.allclose(X[y == 1], [2.0 * np.cos(2 * np.pi / 3), 2.0 * np.sin(2 * np.pi / 3)])


def test_synthetic_accepts_a_generator_and_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    first, _ = data.moons(n_samples=10, seed=rng)
    second, _ = data.moons(n_samples=10, seed=rng)
    assert not np.array_equal(first, second)
    with pytest.raises(ValueError, match="n_samples=0 must be an integer ≥ 2"):
        data.moons(n_samples=0)
    with pytest.raises(ValueError, match="noise=-1 is outside"):
        data.circles(noise=-1)
    with pytest.raises(ValueError, match="factor=1 must lie strictly between 0 and 1"):
        data.circles(factor=1.0)
    with pytest.raises(TypeError, match=r"seed=-1 must be an integer ≥ 0 or a numpy\.random\.Generator"):
        data.spirals(seed=-1)


# -- bundled and generated real data ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["digits", "breast_cancer", "iris", "wine", "diabetes"])
def test_bundled_sets_match_the_registry(name):
    pytest.importorskip("sklearn")  # the bundled sets are read from scikit-learn's package
    info = data.DATASETS[name]
    X, y = data.load(name)
    assert X.shape[1] == info.n_features and X.dtype == np.float64 and len(X) == len(y)
    if info.task == "regression":
        assert y.dtype == np.float64
    else:
        assert set(np.unique(y)) == set(range(info.n_outputs))
    assert info.loss == {"binary": "bce", "multiclass": "ce", "regression": "mse"}[info.task]


def test_load_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown data set 'mnist'; available: moons"):
        data.load("mnist")
    with pytest.raises(ValueError, match=r"'digits' takes no options .*; got seed"):
        data.load("digits", seed=0)
    with pytest.raises(ValueError, match="'sine' accepts n_samples, noise, seed; got factor"):
        data.load("sine", n_samples=10, noise=0.1, seed=0, factor=0.3)


def test_mnist1d_is_generated_offline_and_leaves_global_randomness_alone():
    pytest.importorskip("mnist1d.data")
    np.random.seed(123)  # noqa: NPY002 - the point is to check the caller's global state survives
    random.seed(7)
    before = (np.random.get_state()[1].copy(), random.getstate())  # noqa: NPY002
    X, y = data.mnist1d(n_samples=200, seed=1)
    after = (np.random.get_state()[1], random.getstate())  # noqa: NPY002
    assert np.array_equal(before[0], after[0]) and before[1] == after[1]
    assert X.shape == (200, 40) and X.dtype == np.float64
    assert np.array_equal(np.bincount(y), np.full(10, 20))
    X_train, _ = data.mnist1d(n_samples=200, seed=1, split="train")
    X_test, _ = data.mnist1d(n_samples=200, seed=1, split="test")
    assert np.array_equal(np.concatenate([X_train, X_test]), X) and len(X_test) == 40
    assert not np.array_equal(data.mnist1d(n_samples=200, seed=2)[0], X)
    rng = np.random.default_rng(0)
    first, _ = data.mnist1d(n_samples=20, seed=rng)
    second, _ = data.mnist1d(n_samples=20, seed=rng)  # the generator was consumed: other data
    again, _ = data.mnist1d(n_samples=20, seed=np.random.default_rng(0))
    assert np.array_equal(first, again) and not np.array_equal(first, second)
    with pytest.raises(TypeError, match=r"seed=-1 must be an integer ≥ 0 or a numpy\.random\.Generator"):
        data.mnist1d(n_samples=20, seed=-1)


# -- IDX files ----------------------------------------------------------------------------------------------
def _write_idx(path, array, code=0x08, compress=False):
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("compress", [False, True])
def test_load_idx_reads_raw_and_gzip(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    suffix = ".gz" if compress else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images, compress=compress)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels, compress=compress)
    X, y = data.load_idx(tmp_path, kind="fashion", split="test")
    assert X.shape == (5, 784) and X.dtype == np.float32
    assert np.allclose(X * 255, images.reshape(5, -1)) and np.array_equal(y, labels)
    raw, _ = data.load_idx(tmp_path, split="test", flatten=False, normalize=False)
    assert np.array_equal(raw, images)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", np.array([3, 1, 250, 1, 5], np.uint8), compress=compress)
    with pytest.raises(ValueError, match=r"labels-idx1-ubyte.* holds the label 250; .* labels are 0…9"):
        data.load_idx(tmp_path, split="test")
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images.astype(np.float32), code=0x0D, compress=compress)
    with pytest.raises(ValueError, match=r"images-idx3-ubyte.* holds float32 values; .* hold uint8"):
        data.load_idx(tmp_path, split="test")


def test_read_idx_other_types_and_corrupt_files(tmp_path):
    values = np.arange(6, dtype=np.int32).reshape(2, 3) - 3
    _write_idx(tmp_path / "ints", values, code=0x0C)
    assert np.array_equal(data.read_idx(tmp_path / "ints"), values)
    (tmp_path / "short").write_bytes((tmp_path / "ints").read_bytes()[:-2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        data.read_idx(tmp_path / "short")
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="is not an IDX file"):
        data.read_idx(tmp_path / "text")
    (tmp_path / "type").write_bytes(b"\x00\x00\x0a\x01" + (tmp_path / "ints").read_bytes()[4:])
    with pytest.raises(ValueError, match="unknown IDX type code 0x0A; known: 0x08 uint8, 0x09 int8"):
        data.read_idx(tmp_path / "type")
    _write_idx(tmp_path / "ints.gz", values, code=0x0C, compress=True)
    (tmp_path / "cut.gz").write_bytes((tmp_path / "ints.gz").read_bytes()[:-12])
    (tmp_path / "raw.gz").write_bytes((tmp_path / "ints").read_bytes())
    for name in ("cut.gz", "raw.gz"):
        with pytest.raises(ValueError, match=f"{name} is a damaged gzip file .*; download it again"):
            data.read_idx(tmp_path / name)
    (tmp_path / "ints-gzipped").write_bytes((tmp_path / "ints.gz").read_bytes())
    with pytest.raises(ValueError, match=r"is not an IDX file .*it is gzip-compressed: name it with \.gz"):
        data.read_idx(tmp_path / "ints-gzipped")


def test_load_idx_names_the_missing_files_and_never_downloads(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte and train-labels-idx1-ubyte") as error:
        data.load_idx(tmp_path, kind="mnist", split="train")
    assert "does not download" in str(error.value)
    with pytest.raises(ValueError, match="kind='kmnist' is not one of"):
        data.load_idx(tmp_path, kind="kmnist")


# -- preprocessing ------------------------------------------------------------------------------------------
def test_standardize_fits_on_train_only():
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 3.0, size=(1000, 3))
    train[:, 2] = 0.1  # constant column: its computed σ is rounding noise, not 0 (7.0 would give exactly 0)
    test = rng.normal(5.0, 3.0, size=(10, 3)).astype(np.float32)
    train_s, test_s, scaler = data.standardize(train, test)
    assert np.allclose(train_s[:, :2].mean(axis=0), 0) and np.allclose(train_s[:, :2].std(axis=0), 1)
    assert scaler.scale[2] == 0.0 and np.all(train_s[:, 2] == 0)  # constant: recorded as σ = 0, mapped to 0
    assert np.all(test_s[:, 2] == 0)  # on new data too, whatever the value there
    assert test_s.dtype == np.float32
    assert np.allclose(test_s[:, :2], (test[:, :2] - train[:, :2].mean(axis=0)) / scaler.scale[:2], atol=1e-5)
    assert np.allclose(scaler.inverse_transform(train_s), train)
    assert scaler.inverse_transform(test_s).dtype == np.float32
    with pytest.raises(ValueError, match="fitted on 3 features"):
        scaler.transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="fitted on 3 features"):
        scaler.inverse_transform(np.ones((2, 1)))  # not broadcast to (2, 3)
    test[1, 1] = np.nan
    with pytest.raises(ValueError, match="standardize: argument 2 holds NaN or Inf"):
        data.standardize(train, test)
    with pytest.raises(ValueError, match="transform: X holds NaN or Inf"):
        scaler.transform(test)
    with pytest.raises(ValueError, match=r"X must be a 2-D numeric array .* dtype <U1"):
        scaler.transform([["a", "b", "c"]])


def test_standardizer_round_trips_through_json_and_checks_its_fields():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(3.0, 2.0, 50), np.full(50, 0.3), rng.normal(-1.0, 0.5, 50)])
    scaler = data.Standardizer.fit(X)
    again = data.Standardizer.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert set(scaler.to_dict()) == {"mean", "scale"}
    np.testing.assert_array_equal(again.transform(X), scaler.transform(X))
    np.testing.assert_array_equal(again.inverse_transform(X), scaler.inverse_transform(X))
    built = data.Standardizer(mean=[1, 2], scale=[2, 0])  # lists become float64 arrays; σ = 0 marks a constant
    assert built.mean.dtype == np.float64 and built.transform([[5.0, 9.0]]).tolist() == [[2.0, 0.0]]
    for mean, scale, message in [
        ([0.0], [-1.0], "negative σ"),
        ([0.0], [np.nan], "scale holds NaN or Inf"),
        ([0.0, 1.0], [1.0], "got 2 and 1 values"),
        ([[0.0]], [[1.0]], "mean must be a 1-D array"),
    ]:
        with pytest.raises(ValueError, match=message):
            data.Standardizer(mean=mean, scale=scale)
    with pytest.raises(TypeError, match="mean must be a 1-D array of numbers"):
        data.Standardizer(mean=["a"], scale=[1.0])
    with pytest.raises(ValueError, match=r"expected the dict to_dict\(\) returns"):
        data.Standardizer.from_dict({"mean": [0.0]})


def test_train_val_split_stratifies_labels():
    pytest.importorskip("sklearn")  # digits are read from scikit-learn's package
    X, y = data.digits()
    (X_train, y_train), (X_val, y_val) = data.train_val_split(X, y, fraction=0.3, seed=0)
    assert len(y_val) == round(0.3 * len(y)) and len(y_train) + len(y_val) == len(y)
    share = np.bincount(y_val, minlength=10) / np.bincount(y, minlength=10)
    assert np.all(np.abs(share - 0.3) < 0.02)
    rows = {row.tobytes() for row in X_train} | {row.tobytes() for row in X_val}
    assert len(rows) == len({row.tobytes() for row in X})
    again = data.train_val_split(X, y, fraction=0.3, seed=0)
    assert np.array_equal(again[1][1], y_val)


def test_stratified_split_breaks_ties_at_random_and_keeps_every_class_in_training():
    X, y = np.zeros((30, 1)), np.repeat([0, 1, 2], 10)  # 7.5 validation samples to share among three equal classes
    patterns = {
        tuple(np.bincount(data.train_val_split(X, y, fraction=0.25, seed=seed)[1][1], minlength=3))
        for seed in range(30)
    }
    assert patterns == {(3, 3, 2), (3, 2, 3), (2, 3, 3)}  # the seed decides the tie, not the class order
    X, y = np.arange(20.0).reshape(10, 2), np.array([0] * 5 + [1] * 4 + [2])
    for seed in range(5):
        (_, y_train), (_, y_val) = data.train_val_split(X, y, fraction=0.6, seed=seed)
        assert np.array_equal(np.bincount(y_train, minlength=3), [2, 1, 1])  # the class of one stays in training
        assert np.array_equal(np.bincount(y_val, minlength=3), [3, 3, 0])
    with pytest.raises(ValueError, match=r"keeps a training sample of each of the 3 classes .* pass stratify=False"):
        data.train_val_split(X, y, fraction=0.8)


def test_train_val_split_regression_and_errors():
    X, y = data.sine(n_samples=50, seed=0)
    (X_train, _), (X_val, y_val) = data.train_val_split(X, y, fraction=0.2, seed=1)
    assert X_train.shape == (40, 1) and X_val.shape == (10, 1) and y_val.dtype == np.float64
    with pytest.raises(ValueError, match="X has 50 samples but y has shape"):
        data.train_val_split(X, y[:-1])
    with pytest.raises(ValueError, match="both parts need at least one sample"):
        data.train_val_split(X, y, fraction=0.0)
    with pytest.raises(ValueError, match="stratify=True needs 1-D class labels"):
        data.train_val_split(X, y.reshape(-1, 1), stratify=True)
    with pytest.raises(ValueError, match=r"needs class labels .* y holds float64 values.* pass stratify=False"):
        data.train_val_split(X, y, stratify=True)
    with pytest.raises(TypeError, match="stratify='yes' must be True or False"):
        data.train_val_split(X, y, stratify="yes")


# -- batching: the three regimes ----------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300),
    batch_size=st.one_of(st.none(), st.integers(1, 400)),
    drop_last=st.booleans(),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_batches_partition_the_indices(n, batch_size, drop_last, shuffle, seed):
    parts = list(data.batches(n, batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last))
    k = n if batch_size is None else min(batch_size, n)
    assert len(parts) == data.batch_count(n, batch_size, drop_last)
    assert all(len(part) == k for part in parts[:-1])
    seen = np.concatenate(parts) if parts else np.empty(0, dtype=np.intp)
    assert len(np.unique(seen)) == len(seen)
    if drop_last:
        assert len(seen) == n - n % k and all(len(part) == k for part in parts)
    else:
        assert np.array_equal(np.sort(seen), np.arange(n))
    if not shuffle or batch_size is None:
        assert np.array_equal(seen, np.arange(len(seen)))
    again = np.concatenate(list(data.batches(n, batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last)) or [seen])
    assert np.array_equal(again, seen)


def test_batches_regimes_and_errors():
    assert [len(b) for b in data.batches(10, None)] == [10]
    assert [len(b) for b in data.batches(10, 1)] == [1] * 10
    assert [len(b) for b in data.batches(10, 4)] == [4, 4, 2]
    assert [len(b) for b in data.batches(10, 4, drop_last=True)] == [4, 4]
    rng = np.random.default_rng(0)
    assert not np.array_equal(next(data.batches(50, 50, seed=rng)), next(data.batches(50, 50, seed=rng)))
    # checked at the call, not at the first next(), far from the mistake
    with pytest.raises(ValueError, match="batch_size=0 must be an integer ≥ 1"):
        data.batches(10, 0)
    with pytest.raises(ValueError, match="n=0 must be an integer ≥ 1"):
        data.batches(0, 4)
    with pytest.raises(TypeError, match="seed='abc' must be an integer"):
        data.batches(10, 4, seed="abc")
    with pytest.raises(TypeError, match="shuffle='no' must be True or False"):
        data.batches(10, 4, shuffle="no")
    with pytest.raises(TypeError, match="drop_last='yes' must be True or False"):
        data.batches(10, 4, drop_last="yes")
    with pytest.raises(TypeError, match="drop_last='yes' must be True or False"):
        data.batch_count(10, 4, drop_last="yes")
    assert data.batch_count(10, 4, drop_last=np.bool_(True)) == 2
