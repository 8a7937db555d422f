"""The playground's HTTP and WebSocket API: every endpoint, good, bad and oversized input, client isolation."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the playground needs the web extra: pip install 'descentlab[web]'")
try:
    import httpx2  # noqa: F401  (Starlette's TestClient uses httpx2, or httpx when httpx2 is absent)
except ImportError:
    pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx2 or httpx: pip install httpx2")

from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import descentlab as dl
from descentlab.web import create_app, race
from descentlab.web.app import plotly_js
from descentlab.web.channel import TrainChannel
from descentlab.web.notes import OPTIMIZER_NOTES
from descentlab.web.schemas import LIMITS, SERVER_LIMITS, ServerLimits, TrainConfig
from descentlab.web.training import TrainingRun

SURFACE = "rosenbrock"


@pytest.fixture(scope="module")
def client() -> TestClient:
    with TestClient(create_app()) as test_client:
        yield test_client


def racer(optimizer: str = "gd", **hyperparameters) -> dict:
    return {"optimizer": optimizer, "hyperparameters": hyperparameters}


def race_body(**overrides) -> dict:
    body = {"surface": SURFACE, "racers": [racer("gd", lr=1e-3)], "starts": [[-1.2, 1.0]], "steps": 20}
    body.update(overrides)
    return body


def assert_error(response, status: int, *fragments: str) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ---- pages and assets ------------------------------------------------------------------------------------
def test_root_redirects_to_race(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (302, 307)
    assert response.headers["location"] == "/race"


@pytest.mark.parametrize("page", ["/race", "/train"])
def test_pages_load_only_local_assets(client, page):
    html = client.get(page).text
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/vendor/plotly.min.js" in references
    for reference in references:
        assert reference.startswith(("/", "data:")), f"{page} loads {reference} from outside the package"
        if reference.startswith("/"):
            assert client.get(reference).status_code == 200, reference


def test_plotly_is_served_from_the_installed_package(client):
    response = client.get("/vendor/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.content == plotly_js().read_bytes()


@pytest.mark.parametrize("asset", ["common.js", "race.js", "train.js", "style.css"])
def test_static_assets_are_served(client, asset):
    response = client.get(f"/static/{asset}")
    assert response.status_code == 200 and len(response.content) > 500
    assert "http://" not in response.text and "https://" not in response.text


def test_missing_static_file_is_404(client):
    assert client.get("/static/nope.js").status_code == 404


# ---- options, surfaces, explain -------------------------------------------------------------------------
def test_options_come_from_the_library_registries(client):
    options = client.get("/api/options").json()
    assert [s["name"] for s in options["surfaces"]] == list(dl.surfaces.SURFACES)
    assert list(options["optimizers"]) == list(dl.optim.OPTIMIZERS)
    assert options["optimizers"]["adam"]["beta2"] == dl.optim.Adam().beta2
    assert "nonfinite" not in options["optimizers"]["adam"]
    assert options["schedules"]["step"] == ["factor", "every"]
    assert TrainConfig.model_validate(options["train"]["defaults"]) == TrainConfig()
    assert options["limits"]["race_max_steps"] == LIMITS.race_max_steps
    # only what a page reads: the Train page's own selects list its activations and initializations
    assert set(options["train"]) == {"defaults", "optimizers"}


def test_surface_grid_holds_the_surface_values(client):
    data = client.get(f"/api/surfaces/{SURFACE}?n=25").json()
    surface = dl.surfaces.get(SURFACE)
    z = np.array(data["z"], dtype=float)
    assert z.shape == (25, 25) and len(data["x"]) == 25 and len(data["y"]) == 25
    for i, j in [(0, 0), (7, 19), (24, 3)]:
        expected = float(surface.value(np.array([data["x"][j], data["y"][i]])))
        assert z[i, j] == pytest.approx(expected, rel=1e-4, abs=1e-9)
    assert data["bounds"] == [list(map(float, b)) for b in surface.bounds]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("/api/surfaces/himmelblau2000", "unknown surface"),
        ("/api/surfaces/rosenbrock?n=5", "n"),
        ("/api/surfaces/rosenbrock?n=100000", "n"),
        ("/api/surfaces/rosenbrock?n=abc", "n"),
    ],
)
def test_surface_rejects_bad_requests(client, url, fragment):
    assert_error(client.get(url), 422, fragment)


def test_explain_shows_describe_with_the_current_values(client):
    spec = {
        "optimizer": "adam",
        "hyperparameters": {"lr": 0.03, "beta1": 0.8},
        "schedule": {"type": "exponential", "params": {"k": 0.02}},
        "clip": {"mode": "norm", "threshold": 2},
    }
    data = client.post("/api/explain", json=spec).json()
    assert data["equations"] == dl.optim.Adam(lr=0.03, beta1=0.8).describe()
    assert "Exponential(lr0=0.03, k=0.02)" in data["schedule"]
    assert "‖g‖ > 2" in data["clip"]
    assert data["note"] == OPTIMIZER_NOTES["adam"]


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ({"optimizer": "adamax"}, ("optimizer",)),
        ({"optimizer": "adam", "hyperparameters": {"momentum": 0.9}}, ("no settable hyperparameter", "beta1")),
        ({"optimizer": "adam", "hyperparameters": {"beta1": 1.0}}, ("beta1",)),
        ({"optimizer": "gd", "hyperparameters": {"lr": -1}}, ("lr",)),
        ({"optimizer": "gd", "hyperparameters": {"lr": "fast"}}, ("must be a number",)),
        ({"optimizer": "adam", "hyperparameters": {"amsgrad": 3}}, ("true or false",)),
        ({"optimizer": "gd", "schedule": {"type": "step", "params": {"gamma": 0.5}}}, ("no parameter 'gamma'",)),
        ({"optimizer": "gd", "schedule": {"type": "step", "params": {"every": 0}}}, ("every",)),
        ({"optimizer": "gd", "clip": {"mode": "norm", "threshold": 0}}, ("clip.threshold",)),
        ({"optimizer": "gd", "speed": 3}, ("speed",)),
        ({"optimizer": "gd", "schedule": {"type": "step", "params": {"every": "10"}}}, ("schedule.params.every",)),
        ({"optimizer": "gd", "schedule": {"type": "step", "params": {"every": True}}}, ("schedule.params.every",)),
        ({"optimizer": "momentum", "hyperparameters": {"form": 3}}, ("form=3 must be a string", "heavy_ball")),
    ],
)
def test_explain_rejects_bad_settings_readably(client, spec, fragments):
    assert_error(client.post("/api/explain", json=spec), 422, *fragments)


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        ({"optimizer": "adam", "hyperparameters": {"lr": -1}}, "hyperparameters.lr", "Adam: lr=-1 is outside"),
        ({"optimizer": "adam", "hyperparameters": {"beta1": 1.0}}, "hyperparameters.beta1", "beta1=1"),
        ({"optimizer": "momentum", "hyperparameters": {"form": "x"}}, "hyperparameters.form", "'sutskever'"),
        ({"optimizer": "gd", "schedule": {"type": "exponential", "params": {"k": -1}}}, "schedule.params.k", "k=-1"),
    ],
)
def test_library_errors_name_the_field_they_concern(client, spec, field, fragment):
    response = client.post("/api/explain", json=spec)
    message = assert_error(response, 422, fragment)
    assert response.json()["details"] == [{"field": field, "message": message}]


@pytest.mark.parametrize(
    ("hyperparameters", "field", "fragment"),
    [
        ({"lr": 2e6}, "hyperparameters.lr", "adam: lr=2000000.0 is out of range; use |lr| ≤ 1e6"),
        ({"lr": True}, "hyperparameters.lr", "adam: lr=True must be a number"),
        ({"amsgrad": 3}, "hyperparameters.amsgrad", "amsgrad=3 must be true or false"),
        ({"momentum": 0.9}, "hyperparameters.momentum", "no settable hyperparameter 'momentum'"),
    ],
)
def test_schema_refusals_of_a_hyperparameter_name_its_field(client, hyperparameters, field, fragment):
    response = client.post("/api/explain", json={"optimizer": "adam", "hyperparameters": hyperparameters})
    assert_error(response, 422, fragment)
    assert [d["field"] for d in response.json()["details"]] == [field]
    raced = client.post("/api/race", json=race_body(racers=[racer("gd"), racer("adam", **hyperparameters)]))
    assert [d["field"] for d in raced.json()["details"]] == [f"racers.1.{field}"]


def test_the_advertised_defaults_are_accepted_back(client):
    options = client.get("/api/options").json()["optimizers"]
    assert options["newton"]["min_curvature"] is None
    for name, defaults in options.items():
        response = client.post("/api/explain", json={"optimizer": name, "hyperparameters": defaults})
        assert response.status_code == 200, (name, response.text)
    response = client.post("/api/explain", json={"optimizer": "newton", "hyperparameters": {"damping": None}})
    assert [d["field"] for d in response.json()["details"]] == ["hyperparameters.damping"]


def test_a_racer_the_library_refuses_is_named_by_its_index(client):
    body = race_body(racers=[racer("gd", lr=1e-3), racer("adam", lr=-1)])
    details = client.post("/api/race", json=body).json()["details"]
    assert [d["field"] for d in details] == ["racers.1.hyperparameters.lr"]


def test_string_hyperparameters_are_settable(client):
    options = client.get("/api/options").json()["optimizers"]["momentum"]
    assert options["form"] == "heavy_ball"
    for form in ("ewa", "heavy_ball", "sutskever"):
        spec = {"optimizer": "momentum", "hyperparameters": {"lr": 0.01, "form": form}}
        response = client.post("/api/explain", json=spec)
        assert response.status_code == 200, response.text
        assert response.json()["equations"] == dl.optim.Momentum(lr=0.01, form=form).describe()
    raced = client.post("/api/race", json=race_body(racers=[racer("momentum", lr=1e-3, form="sutskever")]))
    assert raced.status_code == 200, raced.text


# ---- race -----------------------------------------------------------------------------------------------
def manual_descent(lr_of_step, start, steps, clip_norm=None):
    """θ ← θ − α_t g by hand, with the library's surface gradient (the reference for the race endpoint)."""
    surface = dl.surfaces.get(SURFACE)
    theta = np.array(start, dtype=float)
    path = [theta.copy()]
    for t in range(steps):
        g = np.asarray(surface.grad(theta), dtype=float)
        if clip_norm is not None and np.linalg.norm(g) > clip_norm:
            g = g * clip_norm / np.linalg.norm(g)
        theta = theta - lr_of_step(t) * g
        path.append(theta.copy())
    return np.array(path)


def trajectory(run_start) -> np.ndarray:
    return np.array(run_start["trajectory"], dtype=float).T


def test_race_gd_matches_the_update_rule(client):
    data = client.post("/api/race", json=race_body()).json()
    start = data["runs"][0]["starts"][0]
    expected = manual_descent(lambda t: 1e-3, [-1.2, 1.0], 20)
    np.testing.assert_allclose(trajectory(start), expected, rtol=1e-5, atol=1e-9)
    surface = dl.surfaces.get(SURFACE)
    np.testing.assert_allclose(start["losses"], surface.value(expected), rtol=1e-5)
    assert start["diverged_at"] is None and len(start["losses"]) == 21


@pytest.mark.parametrize(
    ("name", "hyperparameters", "clip_norm"),
    [
        ("gd", {"lr": 2e-3}, 50.0),
        ("gd", {"lr": 0.02}, None),  # diverges from some starts
        ("momentum", {"lr": 1e-3, "beta": 0.9}, 50.0),
        ("adam", {"lr": 0.05}, 50.0),
        ("rmsprop", {"lr": 0.01}, None),
        ("newton", {"lr": 1.0}, None),
    ],
)
def test_race_equals_the_library_race_when_the_schedule_is_constant(client, name, hyperparameters, clip_norm):
    starts = [[-1.5, 2.0], [1.2, -0.5], [0.0, 2.5]]
    clip = {"mode": "none"} if clip_norm is None else {"mode": "norm", "threshold": clip_norm}
    spec = {"optimizer": name, "hyperparameters": hyperparameters, "clip": clip}
    web = client.post("/api/race", json=race_body(racers=[spec], starts=starts, steps=40)).json()["runs"][0]
    optimizer = dl.optim.make_optimizer(name, **hyperparameters)
    library = dl.surfaces.race(SURFACE, {name: optimizer}, starts=np.array(starts), steps=40, clip_norm=clip_norm)
    run = library.runs[name]
    for i, start in enumerate(web["starts"]):
        expected_divergence = int(run.diverged_at[i]) if run.diverged[i] else None
        assert start["diverged_at"] == expected_divergence
        n = len(start["losses"])
        np.testing.assert_allclose(trajectory(start), run.trajectory[:n, i], rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(start["losses"], run.losses[:n, i], rtol=1e-5, atol=1e-12)
    if name == "gd" and clip_norm is None:
        assert any(s["diverged_at"] is not None for s in web["starts"]), "this case is meant to diverge"


def test_race_applies_schedule_and_clipping(client):
    spec = {
        "optimizer": "gd",
        "hyperparameters": {"lr": 2e-3},
        "schedule": {"type": "step", "params": {"factor": 0.5, "every": 5}},
        "clip": {"mode": "norm", "threshold": 3.0},
    }
    data = client.post("/api/race", json=race_body(racers=[spec], starts=[[-1.5, 2.5]])).json()
    expected = manual_descent(lambda t: 2e-3 * 0.5 ** (t // 5), [-1.5, 2.5], 20, clip_norm=3.0)
    np.testing.assert_allclose(trajectory(data["runs"][0]["starts"][0]), expected, rtol=1e-5, atol=1e-9)


def test_race_starts_are_independent_runs(client):
    spec = {"optimizer": "adam", "hyperparameters": {"lr": 0.05}, "clip": {"mode": "norm", "threshold": 1.0}}
    together = client.post("/api/race", json=race_body(racers=[spec], starts=[[-1.5, 2.0], [1.5, -0.5]])).json()
    for index, start in enumerate([[-1.5, 2.0], [1.5, -0.5]]):
        alone = client.post("/api/race", json=race_body(racers=[spec], starts=[start])).json()
        assert together["runs"][0]["starts"][index] == alone["runs"][0]["starts"][0]


def test_race_every_optimizer_runs_and_descends(client):
    racers = [racer(name) | {"label": name} for name in dl.optim.OPTIMIZERS if name != "newton"][:6]
    data = client.post("/api/race", json=race_body(racers=racers, steps=50)).json()
    assert [run["label"] for run in data["runs"]] == [r["label"] for r in racers]
    for run in data["runs"]:
        losses = run["starts"][0]["losses"]
        assert run["explain"]["equations"].startswith(run["explain"]["equations"].split(" ")[0])
        assert losses[-1] < losses[0], run["label"]


def test_race_newton_uses_the_hessian(client):
    body = race_body(racers=[racer("newton", lr=1.0)], steps=30)
    start = client.post("/api/race", json=body).json()["runs"][0]["starts"][0]
    assert start["final_loss"] < 1e-10  # Newton with the exact Hessian converges on Rosenbrock from (-1.2, 1)


def test_a_singular_hessian_stops_only_that_newton_start(client):
    starts = [[-1.5, 2.0], [0.0, 0.005]]  # Rosenbrock's Hessian is singular on y = x² + 0.005
    body = race_body(racers=[racer("newton", lr=1.0), racer("gd", lr=1e-3)], starts=starts, steps=30)
    response = client.post("/api/race", json=body)
    assert response.status_code == 200, response.text
    newton, gd = response.json()["runs"]
    moving, stuck = newton["starts"]
    assert stuck["diverged_at"] == 1 and stuck["losses"] == [pytest.approx(1.0025)]
    for part in ("from start (0, 0.005)", "singular", "step 1", "damping=1e-3"):
        assert part in stuck["failure"]
    alone = client.post("/api/race", json=race_body(racers=[racer("newton", lr=1.0)], starts=starts[:1], steps=30))
    assert moving == alone.json()["runs"][0]["starts"][0]
    assert moving["failure"] is None and moving["final_loss"] < 1e-10
    assert all(start["failure"] is None and start["diverged_at"] is None for start in gd["starts"])


def test_race_reports_divergence_per_start(client):
    body = race_body(racers=[racer("gd", lr=0.5)], starts=[[-1.2, 1.0]], steps=200)
    start = client.post("/api/race", json=body).json()["runs"][0]["starts"][0]
    assert isinstance(start["diverged_at"], int)
    assert len(start["losses"]) == start["diverged_at"]
    assert all(v is not None for v in start["losses"])


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"surface": "nowhere"}, ("unknown surface 'nowhere'",)),
        ({"racers": [racer()] * (LIMITS.race_max_racers + 1)}, ("racers",)),
        ({"racers": []}, ("racers",)),
        ({"starts": [[0.0, 0.0]] * (LIMITS.race_max_starts + 1)}, ("starts",)),
        ({"starts": []}, ("starts",)),
        ({"starts": [[50.0, 0.0]]}, ("outside", "bounds")),
        ({"starts": [[0.0]]}, ("starts",)),
        ({"steps": 0}, ("steps",)),
        ({"steps": LIMITS.race_max_steps + 1}, ("steps",)),
        ({"steps": 2.5}, ("steps",)),
        ({"steps": True}, ("steps", "valid integer")),  # a JSON boolean is not 1 step
        ({"steps": "10"}, ("steps", "valid integer")),
        ({"starts": [[True, 1.0]]}, ("starts.0.0", "valid number")),
        ({"starts": [["-1.2", 1.0]]}, ("starts.0.0", "valid number")),
        ({"racers": [racer("gd") | {"clip": {"mode": "norm", "threshold": True}}]}, ("clip.threshold",)),
        ({"racers": [racer("gd", lr=1e9)]}, ("lr",)),
        ({"racers": [racer("gd") | {"label": "x" * 100}]}, ("label",)),
        ({"colour": "red"}, ("colour",)),
    ],
)
def test_race_rejects_bad_input_readably(client, overrides, fragments):
    assert_error(client.post("/api/race", json=race_body(**overrides)), 422, *fragments)


def test_race_rejects_non_finite_numbers(client):
    text = json.dumps(race_body()).replace("[-1.2, 1.0]", "[NaN, 1.0]")
    response = client.post("/api/race", content=text, headers={"Content-Type": "application/json"})
    assert_error(response, 422, "starts")


def test_race_rejects_malformed_json(client):
    response = client.post("/api/race", content="{surface: ", headers={"Content-Type": "application/json"})
    assert_error(response, 422, "JSON")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        ("POST", "/api/race", '{"steps": 1' + "0" * 5000 + "}", 400, "could not be parsed"),
        ("POST", "/api/race", "[" * 5000 + "]" * 5000, 400, "could not be parsed"),
        ("GET", "/api/nope", None, 404, "nothing at /api/nope"),
        ("GET", "/static/nope.js", None, 404, "nothing at /static/nope.js"),
        ("GET", "/api/race", None, 405, "/api/race does not take GET; it allows POST"),
    ],
)
def test_every_error_has_the_documented_shape(client, method, path, body, status, fragment):
    headers = {"Content-Type": "application/json"}
    response = client.request(method, path, content=body, headers=headers if body else None)
    assert_error(response, status, fragment)
    assert response.json()["details"] == []


def test_oversized_body_is_refused_before_parsing(client):
    body = race_body(padding="x" * (SERVER_LIMITS.max_body_bytes + 1))
    assert_error(client.post("/api/race", json=body), 413, "exceeds")


# ---- training over the WebSocket -------------------------------------------------------------------------
EASY = {
    "dataset": "moons",
    "noise": 0.1,
    "n_samples": 200,
    "hidden": [16, 16],
    "epochs": 30,
    "batch_size": 32,
    "optimizer": {"optimizer": "adam", "hyperparameters": {"lr": 0.02}},
}


def send(ws, kind: str, **fields) -> None:
    ws.send_text(json.dumps({"type": kind, **fields}))


def frames_until_stopped(ws) -> list[dict]:
    """Receive frames, acknowledging each as the page does, until the server stops playing."""
    frames = []
    while True:
        message = ws.receive_json()
        assert message["type"] == "frame", message
        frames.append(message)
        send(ws, "ack")
        if not message["playing"]:
            return frames


def test_training_streams_until_finished_and_the_loss_falls(client):
    with client.websocket_connect("/api/train") as ws:
        send(ws, "configure", config=EASY)
        ready = ws.receive_json()
        assert ready["type"] == "ready" and ready["frame"]["epoch"] == 0
        assert len(ready["train"]["x"]) == 140 and len(ready["val"]["x"]) == 60
        assert ready["explain"]["equations"] == dl.optim.Adam(lr=0.02).describe()
        send(ws, "play")
        frames = frames_until_stopped(ws)
    assert frames[-1]["status"] == "finished" and frames[-1]["epoch"] == 30
    epochs = [e for f in frames for e in f["history"]["epoch"]]
    assert epochs == list(range(1, 31))
    losses = [v for f in frames for v in f["history"]["train_loss"]]
    assert losses[-1] < 0.5 * losses[0]
    assert frames[-1]["history"]["val_accuracy"][-1] > 0.85
    boundary = np.array(frames[-1]["boundary"], dtype=float)
    assert boundary.shape == (LIMITS.boundary_resolution,) * 2 and 0 <= boundary.min() <= boundary.max() <= 1
    assert set(frames[-1]["grad_norms"]) == set(ready["layers"]) and len(ready["layers"]) == 3
    assert "step t = " in frames[-1]["equations"]


def drawn(ws) -> dict:
    """Receive one frame and acknowledge it, as the page does after drawing it."""
    frame = ws.receive_json()
    assert frame["type"] == "frame", frame
    send(ws, "ack")
    return frame


def test_step_pause_and_reset_are_deterministic(client):
    config = EASY | {"batch_size": None, "epochs": 5}
    with client.websocket_connect("/api/train") as ws:
        send(ws, "configure", config=config)
        first_ready = ws.receive_json()
        send(ws, "step")
        one = drawn(ws)
        send(ws, "step")
        two = drawn(ws)
        assert (one["epoch"], two["epoch"], two["step"]) == (1, 2, 2)
        assert one["playing"] is False
        send(ws, "pause")
        paused = drawn(ws)
        assert paused["epoch"] == 2 and paused["history"]["epoch"] == []
        send(ws, "reset")
        again = ws.receive_json()
        assert again == first_ready
        send(ws, "step")
        assert drawn(ws) == one
        send(ws, "play")
        frames = frames_until_stopped(ws)
        assert frames[-1]["status"] == "finished"
        send(ws, "play")  # a finished run stays finished
        assert drawn(ws)["status"] == "finished"


def test_a_playing_run_waits_for_the_page_to_draw(client):
    config = EASY | {"batch_size": None, "epochs": 2000}
    with client.websocket_connect("/api/train") as ws:
        send(ws, "configure", config=config)
        ws.receive_json()
        send(ws, "play")
        first, second = ws.receive_json(), ws.receive_json()  # not acknowledged: the server must wait
        assert first["playing"] and second["playing"] and second["epoch"] == 2 * first["epoch"]
        send(ws, "pause")
        paused = ws.receive_json()
        assert paused["playing"] is False and paused["epoch"] == second["epoch"]
        assert paused["history"]["epoch"] == []


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ("not json", "not JSON"),
        (json.dumps({"type": "fly"}), "'type' one of"),
        (json.dumps([1, 2]), "'type' one of"),
        (json.dumps({"type": "play"}), "send 'configure'"),
        (json.dumps({"type": "configure", "config": EASY | {"hidden": [8, 1000]}}), "hidden layer 2 has 1000 units"),
        (json.dumps({"type": "configure", "config": EASY | {"hidden": [4] * 7}}), "hidden"),
        (json.dumps({"type": "configure", "config": EASY | {"batch_size": 500}}), "exceeds the 140 training"),
        (json.dumps({"type": "configure", "config": EASY | {"batch_size": 1, "epochs": 2000}}), "exceeds the limit"),
        (json.dumps({"type": "configure", "config": EASY | {"n_samples": 10**6}}), "n_samples"),
        (json.dumps({"type": "configure", "config": EASY | {"dataset": "mnist"}}), "dataset"),
        (json.dumps({"type": "configure", "config": EASY | {"optimizer": racer("adam", beta2=1.5)}}), "beta2"),
        (json.dumps({"type": "configure", "config": "moons"}), "valid dictionary"),
        (json.dumps({"type": "configure", "config": EASY | {"batch_norm": True, "batch_size": 1}}), "batch norm"),
        (json.dumps({"type": "configure", "config": EASY | {"batch_norm": True, "batch_size": 139}}), "batch of 1"),
        (json.dumps({"type": "configure", "config": EASY | {"optimizer": racer("newton")}}), "Hessian"),
        (
            json.dumps({"type": "configure", "config": EASY | {"epochs": True}}),
            "epochs: Input should be a valid integer",
        ),
        (json.dumps({"type": "configure", "config": EASY | {"seed": "3"}}), "seed: Input should be a valid integer"),
        (json.dumps({"type": "configure", "config": EASY | {"noise": "0.1"}}), "noise: Input should be a valid number"),
        ("x" * (SERVER_LIMITS.max_body_bytes + 1), "the limit is"),
    ],
)
def test_bad_training_commands_answer_an_error_and_keep_the_connection(client, message, fragment):
    with client.websocket_connect("/api/train") as ws:
        ws.send_text(message)
        error = ws.receive_json()
        assert error["type"] == "error" and fragment in error["message"], error
        send(ws, "configure", config=EASY | {"epochs": 1})
        assert ws.receive_json()["type"] == "ready"


def test_refused_settings_leave_no_run_to_train(client):
    with client.websocket_connect("/api/train") as ws:
        send(ws, "configure", config=EASY | {"epochs": 3})
        assert ws.receive_json()["type"] == "ready"
        send(ws, "configure", config=EASY | {"hidden": [1000]})
        refusal = ws.receive_json()
        assert refusal["type"] == "error" and refusal["command"] == "configure"
        assert "hidden layer 1 has 1000 units" in refusal["message"]
        for command in ("step", "play", "reset"):
            send(ws, command)
            error = ws.receive_json()
            assert error["type"] == "error" and error["command"] == command, error
            assert "the last ones were refused: hidden: hidden layer 1 has 1000 units" in error["message"]
        send(ws, "configure", config=EASY | {"epochs": 3})
        assert ws.receive_json()["type"] == "ready"
        send(ws, "step")
        assert drawn(ws)["epoch"] == 1


def test_a_library_error_in_the_settings_names_its_field(client):
    with client.websocket_connect("/api/train") as ws:
        send(ws, "configure", config=EASY | {"optimizer": racer("adam", beta2=1.0)})
        error = ws.receive_json()
        assert error["type"] == "error" and error["message"].startswith("Adam: beta2=1")
        assert error["details"] == [{"field": "optimizer.hyperparameters.beta2", "message": error["message"]}]


def test_a_library_error_mid_run_stops_the_run_with_a_message(client, monkeypatch):
    def failing(self, epochs):
        raise ValueError("batchnorm0: batch normalization in training needs at least 2 samples per batch")

    with client.websocket_connect("/api/train") as ws:
        send(ws, "configure", config=EASY | {"epochs": 3})
        assert ws.receive_json()["type"] == "ready"
        monkeypatch.setattr(TrainingRun, "run_epochs", failing)
        for command in ("step", "play"):
            send(ws, command)
            error = ws.receive_json()
            assert error["type"] == "error" and error["message"].startswith("training stopped: batchnorm0")
        monkeypatch.undo()
        send(ws, "step")
        assert drawn(ws)["epoch"] == 1  # the connection and the run are still usable


def test_a_binary_message_is_refused_readably(client):
    with client.websocket_connect("/api/train") as ws:
        ws.send_bytes(b"\x00\x01")
        error = ws.receive_json()
        assert error["type"] == "error" and "text messages" in error["message"]
        send(ws, "configure", config=EASY | {"epochs": 1})
        assert ws.receive_json()["type"] == "ready"


class FloodingPage:
    """A page that configures, asks for one epoch, then sends commands as fast as it can and never reads."""

    def __init__(self, messages: int) -> None:
        self.messages = messages
        self.received = 0
        self.sent: list[str] = []

    async def receive(self) -> dict:
        await asyncio.sleep(0)  # a socket read yields to the event loop
        self.received += 1
        if self.received == 1:
            return {"type": "websocket.receive", "text": json.dumps({"type": "configure", "config": EASY})}
        if self.received > self.messages:
            await asyncio.Event().wait()  # nothing more to send
        return {"type": "websocket.receive", "text": json.dumps({"type": "step", "padding": "x" * 1000})}

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


def test_a_flooding_client_is_not_read_faster_than_it_is_served(monkeypatch):
    release = threading.Event()
    real = TrainingRun.run_epochs

    def slow(self, epochs):
        release.wait(timeout=30)
        return real(self, epochs)

    monkeypatch.setattr(TrainingRun, "run_epochs", slow)
    page = FloodingPage(10_000)

    async def conversation() -> int:
        channel = TrainChannel(page)
        serving = asyncio.create_task(channel.serve())
        await asyncio.sleep(0.5)  # the first step is being computed; the page keeps sending
        read = page.received
        release.set()
        serving.cancel()
        return read

    read = asyncio.run(conversation())
    from descentlab.web.channel import COMMANDS_QUEUED

    # configure, the step being computed, the queue, and the one message that waits to be queued
    assert read <= COMMANDS_QUEUED + 3


def test_clients_do_not_affect_each_other(client):
    config_a = EASY | {"epochs": 3, "batch_size": None}
    config_b = EASY | {"epochs": 3, "dataset": "circles", "optimizer": racer("gd", lr=0.5), "seed": 7}
    with client.websocket_connect("/api/train") as solo:
        send(solo, "configure", config=config_a)
        solo.receive_json()
        expected = []
        for _ in range(3):
            send(solo, "step")
            expected.append(drawn(solo))
    with client.websocket_connect("/api/train") as a, client.websocket_connect("/api/train") as b:
        send(a, "configure", config=config_a)
        send(b, "configure", config=config_b)
        a.receive_json()
        b.receive_json()
        got = []
        for _ in range(3):
            send(b, "step")
            send(a, "step")
            send(b, "reset")
            got.append(drawn(a))
            drawn(b)
            b.receive_json()
    assert got == expected


def test_training_sessions_are_bounded():
    with TestClient(create_app(ServerLimits(max_training_sessions=1))) as small:
        with small.websocket_connect("/api/train") as first:
            with small.websocket_connect("/api/train") as second:
                error = second.receive_json()
                assert error["type"] == "error" and "already running 1 training" in error["message"]
                with pytest.raises(WebSocketDisconnect) as closed:
                    second.receive_json()
                assert closed.value.code == 1013
            send(first, "configure", config=EASY | {"epochs": 1})
            assert first.receive_json()["type"] == "ready"
        with small.websocket_connect("/api/train") as after:  # the slot is free again
            send(after, "configure", config=EASY | {"epochs": 1})
            assert after.receive_json()["type"] == "ready"


def test_training_sessions_are_bounded_per_client():
    app = create_app(ServerLimits(max_training_sessions=4, max_training_sessions_per_client=1))
    with TestClient(app) as one, TestClient(app, client=("192.0.2.7", 50000)) as other:
        with one.websocket_connect("/api/train") as first:
            with one.websocket_connect("/api/train") as second:
                error = second.receive_json()
                assert error["type"] == "error" and "testclient already runs 1 training" in error["message"]
                assert "limit per client" in error["message"]
                with pytest.raises(WebSocketDisconnect) as closed:
                    second.receive_json()
                assert closed.value.code == 1013
            with other.websocket_connect("/api/train") as elsewhere:  # another client still gets a session
                send(elsewhere, "configure", config=EASY | {"epochs": 1})
                assert elsewhere.receive_json()["type"] == "ready"
            send(first, "configure", config=EASY | {"epochs": 1})
            assert first.receive_json()["type"] == "ready"


def test_races_in_flight_are_bounded(monkeypatch):
    entered, release = threading.Event(), threading.Event()
    real = race.run_race

    def slow(request):
        entered.set()
        release.wait(timeout=30)
        return real(request)

    monkeypatch.setattr(race, "run_race", slow)
    with TestClient(create_app(ServerLimits(max_races_in_flight=1))) as small:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(small.post, "/api/race", json=race_body())
            assert entered.wait(timeout=30)
            busy = small.post("/api/race", json=race_body())
            release.set()
            assert first.result(timeout=60).status_code == 200
        assert_error(busy, 503, "as many races as it allows at once (1)", "in a moment")
        assert busy.headers["retry-after"] == "1"
        assert small.post("/api/race", json=race_body()).status_code == 200  # the slot is free again


# ---- the training run itself --------------------------------------------------------------------------------
def test_divergence_is_reported_with_advice():
    config = TrainConfig.model_validate(
        {"loss": "mse", "init": "too_large", "batch_size": None, "epochs": 50, "optimizer": racer("gd", lr=100.0)}
    )
    run = TrainingRun(config)
    frame = run.run_epochs(50)
    assert frame["status"] == "diverged" and run.done
    assert "Lower the learning rate" in frame["message"]
    json.dumps(frame, allow_nan=False)  # still valid JSON for the page


def test_a_run_that_blows_up_in_its_last_step_reports_divergence_and_keeps_the_last_good_weights():
    config = TrainConfig.model_validate(
        {"loss": "mse", "init": "too_large", "batch_size": None, "epochs": 1, "optimizer": racer("gd", lr=1e6)}
    )
    run = TrainingRun(config)
    before = run.net.params.copy()
    frame = run.run_epochs(1)
    assert frame["status"] == "diverged" and run.done
    assert "loss became inf after step 1" in frame["message"] and "Lower the learning rate" in frame["message"]
    assert "weights from before training" in frame["message"]
    np.testing.assert_array_equal(run.net.params, before)
    assert all(v is not None for row in frame["boundary"] for v in row)
    assert frame["history"]["train_loss"] == [] and frame["epoch"] == 0


@pytest.mark.parametrize("loss", ["bce", "ce", "mse"])
def test_every_loss_gives_probabilities_for_the_boundary(loss):
    run = TrainingRun(TrainConfig.model_validate({"loss": loss, "epochs": 2, "n_samples": 60, "batch_size": 16}))
    frame = run.run_epochs(2)
    boundary = np.array(frame["boundary"], dtype=float)
    assert np.all((boundary >= 0) & (boundary <= 1))
    assert frame["status"] == "finished" and len(frame["history"]["train_loss"]) == 2


# ---- the command and the server entry point ------------------------------------------------------------------
def test_serve_listens_before_printing_the_address_and_limits_websocket_messages(monkeypatch, capsys):
    import uvicorn

    from descentlab.web import serve

    calls = []

    def run(self, sockets):
        (listening,) = sockets
        calls.append((self.config, listening, listening.getsockname()))

    monkeypatch.setattr(uvicorn.Server, "run", run)
    serve(port=0)
    config, listening, (host, port) = calls[0]
    assert host == "127.0.0.1" and port > 0
    assert f"http://127.0.0.1:{port}/race" in capsys.readouterr().out
    assert config.ws_max_size == 2 * SERVER_LIMITS.max_body_bytes
    assert listening.fileno() == -1  # closed once the server stops
    serve(host="0.0.0.0", port=0)
    assert "reachable from other machines" in capsys.readouterr().out


def test_a_port_in_use_is_one_error_line_and_no_address():
    pytest.importorskip("typer", reason="the command needs the cli extra")
    from typer.testing import CliRunner

    from descentlab.cli import app

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["playground", "--port", str(port)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; is another playground running? "
        f"Stop it or choose another port"
    ]
    result = CliRunner().invoke(app, ["playground", "--host", "192.0.2.1", "--port", "0"])  # TEST-NET-1
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: serve: host='192.0.2.1' is not an address of this machine") and "http" not in line


@pytest.mark.parametrize("port", [-1, 70000, "8050", True])
def test_serve_rejects_a_bad_port(port):
    from descentlab.web import serve

    with pytest.raises(ValueError, match="port"):
        serve(port=port)


def test_register_adds_the_playground_command(monkeypatch):
    typer = pytest.importorskip("typer", reason="the command needs the cli extra")
    from typer.testing import CliRunner

    import descentlab.web as web

    app = typer.Typer()

    @app.command()
    def other() -> None:
        """A second command, as in the real CLI (typer flattens a single-command app)."""

    web.register(app)
    runner = CliRunner()
    help_text = runner.invoke(app, ["playground", "--help"]).output
    assert "--port" in help_text and "--host" in help_text
    calls = []
    monkeypatch.setattr(web, "serve", lambda host, port: calls.append((host, port)))
    assert runner.invoke(app, ["playground", "--port", "9000"]).exit_code == 0
    assert calls == [("127.0.0.1", 9000)]
    assert runner.invoke(app, ["playground", "--port", "70000"]).exit_code != 0

    def missing_extra(host, port):
        raise ImportError("the playground needs the web extra: pip install 'descentlab[web]'")

    monkeypatch.setattr(web, "serve", missing_extra)
    result = runner.invoke(app, ["playground"])
    assert result.exit_code == 1 and "pip install 'descentlab[web]'" in result.output


def test_the_playground_command_serves_on_loopback_and_prints_its_address():
    pytest.importorskip("typer", reason="the command needs the cli extra")
    import urllib.request

    command = [sys.executable, "-c", "from descentlab.cli import app; app()", "playground", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        address = re.search(r"http://127\.0\.0\.1:(\d+)/race", line)
        assert address and address[1] != "0", line + process.stderr.read()
        # the address is printed once the socket listens: the first request is answered
        with urllib.request.urlopen(address[0], timeout=30) as response:
            assert response.status == 200 and b"/vendor/plotly.min.js" in response.read()
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---- the real server (uvicorn in a subprocess, as `descentlab playground` runs it) --------------------------
HEAVY = EASY | {"n_samples": 1000, "validation_fraction": 0.1, "hidden": [64] * 6, "batch_size": 1, "epochs": 100}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """``serve(port=0)`` in a subprocess: its host:port and the file its log (stderr) goes to."""
    pytest.importorskip("websockets", reason="the live tests need the web extra's websockets client")
    log = tmp_path_factory.mktemp("playground") / "server.log"
    with log.open("w") as stderr:
        command = [sys.executable, "-c", "from descentlab.web import serve; serve(port=0)"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        line = process.stdout.readline()
        address = re.search(r"http://(127\.0\.0\.1:\d+)/race", line)
        assert address, line + log.read_text()
        yield address[1], log
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def training_session(address: str) -> Iterator:
    """A configured Train connection, retried while the server still counts closed ones against its limits."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    deadline = time.monotonic() + 30
    while True:
        try:
            with connect(f"ws://{address}/api/train") as ws:
                ws.send(json.dumps({"type": "configure", "config": EASY | {"epochs": 1}}))
                answer = json.loads(ws.recv(timeout=30))
                if answer["type"] == "ready":
                    yield ws
                    return
                assert "training sessions" in answer["message"], answer
        except ConnectionClosed as closed:  # refused (1013) before the configure was read
            assert closed.rcvd is not None and closed.rcvd.code == 1013, closed
        assert time.monotonic() < deadline, "the server kept refusing training sessions"
        time.sleep(0.1)


def test_closing_a_playing_page_leaves_no_traceback_in_the_server_log(live_server):
    address, log = live_server
    with training_session(address) as ws:
        ws.send(json.dumps({"type": "configure", "config": HEAVY}))
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        ws.send(json.dumps({"type": "play"}))
        assert json.loads(ws.recv(timeout=60))["type"] == "frame"
        ws.send(json.dumps({"type": "ack"}))
    # closed while the next epochs are computed; both of this client's sessions are free once it noticed
    with training_session(address), training_session(address):
        time.sleep(0.5)
    assert log.read_text() == ""


def test_the_real_server_refuses_an_oversized_message_readably_and_closes_a_far_larger_one(live_server):
    from websockets.exceptions import ConnectionClosed

    address, _ = live_server
    with training_session(address) as ws:
        ws.send("x" * (SERVER_LIMITS.max_body_bytes + 1))
        error = json.loads(ws.recv(timeout=30))
        assert error["type"] == "error" and error["command"] is None
        assert (
            f"has {SERVER_LIMITS.max_body_bytes + 1} bytes; the limit is {SERVER_LIMITS.max_body_bytes}"
            in (error["message"])
        )
        ws.send(json.dumps({"type": "step"}))  # the connection and its run are still there
        assert json.loads(ws.recv(timeout=30))["epoch"] == 1
    with training_session(address) as ws:
        ws.send("x" * (2 * SERVER_LIMITS.max_body_bytes + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
        assert closed.value.rcvd.code == 1009
