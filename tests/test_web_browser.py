"""The playground in a real browser: Playwright drives Debian's headless Chromium against a live server.

Skips (saying why) when the ``playwright`` package or ``/usr/bin/chromium`` is missing;
``scripts/install_test_tools.sh`` installs Chromium where the machine allows. Screenshots of each page are kept
under ``test-artifacts/web/``.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the playground needs the web extra: pip install 'descentlab[web]'")
uvicorn = pytest.importorskip("uvicorn", reason="the playground needs the web extra: pip install 'descentlab[web]'")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package: pip install playwright"
)

from descentlab.web import create_app  # noqa: E402

CHROMIUM = Path(os.environ.get("DESCENTLAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "web"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """A live playground on a free loopback port, served from a background thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the playground server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests skipped: {CHROMIUM} is missing (scripts/install_test_tools.sh installs Debian's chromium "
            f"when run as root; or set DESCENTLAB_CHROMIUM to a Chromium binary)"
        )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def set_value(page, selector: str, value: str) -> None:
    """Type a value and commit it the way a person does (the page listens for ``change``)."""
    page.fill(selector, value)
    page.locator(selector).blur()


def share_fragment(settings: dict) -> str:
    encoded = base64.urlsafe_b64encode(json.dumps(settings).encode()).decode().rstrip("=")
    return f"#s={encoded}"


def settings_in(url: str) -> dict:
    encoded = url.split("#s=", 1)[1]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def plot_lengths(page, selector: str) -> list[int]:
    return page.eval_on_selector(selector, "div => div.data.map(trace => (trace.x || []).length)")


# ---- Race -------------------------------------------------------------------------------------------------
def open_race(page, server_url: str, fragment: str = "") -> None:
    page.goto(f"{server_url}/race{fragment}")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#contour[data-state=ready]")


def click_on_contour(page, fx: float, fy: float) -> None:
    """Click at a fraction (fx, fy) of the contour's plotting area (0, 0 = top left)."""
    box = page.locator("#contour .nsewdrag").bounding_box()
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def test_race_page_animates_trajectories_and_losses(page, server_url):
    open_race(page, server_url)
    page.select_option("#speed", "10")
    set_value(page, "#steps", "120")
    click_on_contour(page, 0.75, 0.3)
    page.wait_for_function("document.querySelectorAll('#start-list li').length === 2")
    page.click("#play")
    page.wait_for_selector("#contour[data-state=done]")

    racers = page.locator("#racers .racer").count()
    lengths = plot_lengths(page, "#contour")[2:]  # after the minima and the starts
    assert len(lengths) == 2 * racers and all(n > 1 for n in lengths)
    losses = plot_lengths(page, "#losses")
    assert len(losses) == 2 * racers and all(n > 1 for n in losses)
    assert max(losses) == 121
    assert page.get_attribute("#contour", "data-frame") == "120"
    assert "Finished 120 steps" in page.inner_text("#race-status")

    # hovering a trajectory point shows its step, point and loss
    page.locator("#contour").scroll_into_view_if_needed()
    x, y = page.eval_on_selector(
        "#contour",
        """div => {
            const layout = div._fullLayout, trace = div.data[2], i = Math.min(5, trace.x.length - 1);
            const rect = div.querySelector('.nsewdrag').getBoundingClientRect();
            return [rect.left + layout.xaxis.l2p(trace.x[i]), rect.top + layout.yaxis.l2p(trace.y[i])];
        }""",
    )
    page.mouse.move(x - 20, y - 20)
    page.mouse.move(x, y, steps=4)
    hover = page.wait_for_selector("#contour .hovertext")
    text = hover.text_content()
    assert "step" in text and "loss" in text and "θ" in text
    equations = page.inner_text("#explain")
    assert "θ ←" in equations and "Watch for" in equations
    screenshot(page, "race")


def test_race_page_shows_bad_input_and_keeps_working(page, server_url):
    open_race(page, server_url)
    set_value(page, "#steps", "40")
    set_value(page, "input[name=racer0-lr]", "-1")
    page.wait_for_selector("#error:not([hidden])")
    assert "lr" in page.inner_text("#error")
    page.click("#play")
    page.wait_for_function("document.getElementById('error').textContent.includes('lr')")
    assert page.get_attribute("#contour", "data-state") == "ready"  # no race was drawn

    set_value(page, "#steps", "100000")
    set_value(page, "input[name=racer0-lr]", "0.001")
    page.click("#play")
    page.wait_for_function("document.getElementById('error').textContent.includes('steps')")

    set_value(page, "#steps", "40")
    page.click("#play")
    page.wait_for_selector("#contour[data-state=done]")
    assert page.is_hidden("#error")
    screenshot(page, "race-after-error")


def test_race_shared_url_restores_its_settings(page, server_url):
    settings = {
        "surface": "rosenbrock",
        "steps": 77,
        "starts": [[-1.0, 2.0], [0.5, -0.5]],
        "racers": [
            {"optimizer": "nesterov", "hyperparameters": {"lr": 0.0007, "beta": 0.8}},
            {"optimizer": "rmsprop", "hyperparameters": {"lr": 0.004}, "clip": {"mode": "norm", "threshold": 2.5}},
        ],
    }
    open_race(page, server_url, share_fragment(settings))
    assert page.input_value("#surface") == "rosenbrock"
    assert page.input_value("#steps") == "77"
    assert page.locator("#start-list li").all_inner_texts() == ["(-1, 2)", "(0.5, -0.5)"]
    assert page.input_value("select[name=racer0-optimizer]") == "nesterov"
    assert page.input_value("input[name=racer0-lr]") == "0.0007"
    assert page.input_value("input[name=racer0-beta]") == "0.8"
    assert page.input_value("select[name=racer1-optimizer]") == "rmsprop"
    assert page.input_value("select[name=racer1-clip]") == "norm"
    assert page.input_value("input[name=racer1-clip-threshold]") == "2.5"

    # edit, then open the page's own link in a fresh tab: the edit comes back
    set_value(page, "input[name=racer1-lr]", "0.009")
    link = page.url
    assert settings_in(link)["racers"][1]["hyperparameters"]["lr"] == 0.009
    second = page.context.new_page()
    open_race(second, server_url, "#s=" + link.split("#s=", 1)[1])
    assert second.input_value("input[name=racer1-lr]") == "0.009"
    assert second.input_value("#steps") == "77"
    second.close()


# ---- Train ------------------------------------------------------------------------------------------------
def open_train(page, server_url: str, fragment: str = "") -> None:
    page.goto(f"{server_url}/train{fragment}")
    page.wait_for_selector("body[data-ready=true]")
    wait_until_configured(page)


def wait_until_configured(page) -> None:
    """Wait until every settings message the page sent has been answered (ready or error)."""
    page.wait_for_function(
        """() => { const d = document.getElementById('boundary').dataset;
                   return d.pending !== 'true' && Number(d.sent || 0) > 0 && d.sent === d.answered; }"""
    )


def configure(page, values: dict[str, str]) -> None:
    sent = int(page.get_attribute("#boundary", "data-sent") or 0)
    for selector, value in values.items():
        if page.eval_on_selector(selector, "el => el.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            set_value(page, selector, value)
    page.wait_for_function(f"Number(document.getElementById('boundary').dataset.sent) > {sent}")
    wait_until_configured(page)


def boundary_z(page) -> list:
    return page.eval_on_selector("#boundary", "div => div.data[0].z")


def test_train_page_trains_and_the_loss_falls(page, server_url):
    open_train(page, server_url)
    configure(page, {"#dataset": "moons", "#noise": "0.1", "#epochs": "40", "input[name=train-lr]": "0.02"})
    assert page.get_attribute("#boundary", "data-epoch") == "0"
    before = boundary_z(page)
    page.click("#play")
    page.wait_for_selector("#boundary[data-status=finished]")

    losses = page.eval_on_selector("#loss-chart", "div => div.data.map(t => t.y)")
    train_loss, val_loss = losses
    assert len(train_loss) == 40 and len(val_loss) == 40
    assert train_loss[-1] < 0.6 * train_loss[0]
    gradient_lengths = plot_lengths(page, "#grad-chart")
    assert len(gradient_lengths) == 3 and set(gradient_lengths) == {40}
    assert boundary_z(page) != before
    assert "finished" in page.inner_text("#train-status")
    assert "step t = " in page.inner_text("#explain")
    screenshot(page, "train")


def test_train_page_step_pause_and_reset(page, server_url):
    open_train(page, server_url)
    configure(page, {"#epochs": "300", "#batch_mode": "one"})  # 210 steps per epoch: one epoch per frame
    page.click("#step")
    page.wait_for_selector("#boundary[data-epoch='1']")
    page.click("#step")
    page.wait_for_selector("#boundary[data-epoch='2']")
    assert plot_lengths(page, "#loss-chart") == [2, 2]

    page.click("#play")
    page.wait_for_function("Number(document.getElementById('boundary').dataset.epoch) > 2")
    page.click("#play")  # the same button pauses
    page.wait_for_function("document.getElementById('play').textContent.includes('Train')")
    paused_at = page.get_attribute("#boundary", "data-epoch")
    page.wait_for_timeout(400)
    assert page.get_attribute("#boundary", "data-epoch") == paused_at
    assert int(paused_at) < 300

    page.click("#reset")
    page.wait_for_selector("#boundary[data-epoch='0']")
    assert plot_lengths(page, "#loss-chart") == [0, 0]


def test_train_page_shows_bad_input_and_keeps_working(page, server_url):
    open_train(page, server_url)
    configure(page, {"#units": "1000"})
    assert page.is_visible("#error")
    assert "1000 units" in page.inner_text("#error")
    assert len(page.eval_on_selector("#boundary", "div => div.data")) == 4  # the plots are still there

    configure(page, {"#units": "6", "#batch_mode": "k", "#batch_k": "500"})
    assert "batch_size=500 exceeds the 210 training samples" in page.inner_text("#error")

    configure(page, {"#batch_k": "16"})
    assert page.is_hidden("#error")
    page.click("#step")
    page.wait_for_selector("#boundary[data-epoch='1']")
    screenshot(page, "train-after-error")


def test_train_shared_url_restores_its_settings(page, server_url):
    config = {
        "dataset": "xor",
        "noise": 0.15,
        "n_samples": 240,
        "hidden": [5, 5, 5],
        "activation": "tanh",
        "init": "xavier",
        "batch_norm": True,
        "loss": "ce",
        "batch_size": 24,
        "epochs": 12,
        "seed": 4,
        "optimizer": {"optimizer": "momentum", "hyperparameters": {"lr": 0.02, "beta": 0.85}},
    }
    open_train(page, server_url, share_fragment(config))
    assert page.is_hidden("#error")
    expected = {
        "#dataset": "xor",
        "#noise": "0.15",
        "#n_samples": "240",
        "#layers": "3",
        "#units": "5",
        "#activation": "tanh",
        "#init": "xavier",
        "#loss": "ce",
        "#batch_mode": "k",
        "#batch_k": "24",
        "#epochs": "12",
        "#seed": "4",
        "select[name=train-optimizer]": "momentum",
        "input[name=train-lr]": "0.02",
        "input[name=train-beta]": "0.85",
    }
    for selector, value in expected.items():
        assert page.input_value(selector) == value, selector
    assert page.is_checked("#batch_norm")
    # one gradient-norm curve per parameterised layer: 3 × (dense, batch norm) + the output layer
    assert page.eval_on_selector("#grad-chart", "div => div.data.length") == 7
    restored = settings_in(page.url)
    assert {k: restored[k] for k in config if k != "optimizer"} == {k: v for k, v in config.items() if k != "optimizer"}


def test_train_page_keeps_refused_settings_from_training(page, server_url):
    open_train(page, server_url)
    configure(page, {"#units": "1000"})
    assert "1000 units" in page.inner_text("#error")
    assert all(page.is_disabled(button) for button in ("#play", "#step", "#reset"))
    page.locator("#play").click(force=True)  # a disabled button sends nothing
    page.wait_for_timeout(300)
    assert "1000 units" in page.inner_text("#error")
    assert page.get_attribute("#boundary", "data-epoch") == "0"

    configure(page, {"#units": "6"})
    assert page.is_hidden("#error") and page.is_enabled("#play")
    page.click("#step")
    page.wait_for_selector("#boundary[data-epoch='1']")


def test_train_page_refuses_a_mini_batch_without_its_size(page, server_url):
    open_train(page, server_url)
    configure(page, {"#batch_mode": "k", "#batch_k": "16"})
    assert page.is_hidden("#error")
    configure(page, {"#batch_k": ""})
    assert "batch_size: Input should be a valid integer (got '')" in page.inner_text("#error")
    assert page.is_disabled("#step")
    assert settings_in(page.url)["batch_size"] == ""  # the link keeps "mini-batch k", not full batch


def test_train_page_refuses_a_number_of_layers_it_cannot_build(page, server_url):
    open_train(page, server_url)
    for layers in ("2.5", "-1", "7", ""):
        set_value(page, "#layers", layers)
        page.wait_for_function(
            "text => document.getElementById('error').textContent.includes(text)",
            arg=f'hidden layers: "{layers}" must be a whole number from 0 to 6',
        )
        assert page.is_visible("#error") and page.is_disabled("#play")
    configure(page, {"#layers": "2"})
    assert page.is_hidden("#error") and page.is_enabled("#play")
    assert settings_in(page.url)["hidden"] == [8, 8]


def test_race_page_says_why_a_newton_start_stopped(page, server_url):
    settings = {
        "surface": "rosenbrock",
        "steps": 20,
        "starts": [[-1.5, 2.0], [0.0, 0.005]],  # Rosenbrock's Hessian is singular on y = x² + 0.005
        "racers": [{"optimizer": "newton", "hyperparameters": {"lr": 1}}],
    }
    open_race(page, server_url, share_fragment(settings))
    page.select_option("#speed", "10")
    page.click("#play")
    page.wait_for_selector("#contour[data-state=done]")
    status = page.inner_text("#race-status")
    assert "start 1: loss" in status
    assert "start 2: stopped at step 1:" in status and "singular" in status and "damping=1e-3" in status
    assert page.is_hidden("#error")
