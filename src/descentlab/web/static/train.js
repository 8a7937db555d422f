// The Train page: settings go to the server over a WebSocket; training frames stream back and redraw the plots.
import {
  clearError,
  debounce,
  getJSON,
  optimizerEditor,
  numberOrText,
  renderExplain,
  settingsFromURL,
  setupShareButton,
  showError,
  writeSettingsToURL,
} from "/static/common.js";

const boundaryDiv = document.getElementById("boundary");
const lossDiv = document.getElementById("loss-chart");
const gradDiv = document.getElementById("grad-chart");
const statusLine = document.getElementById("train-status");
const playButton = document.getElementById("play");
const RUN_BUTTONS = ["play", "step", "reset"].map((id) => document.getElementById(id));
const LAYER_COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];

let options = null;
let editor = null;
let socket = null;
let playing = false;
let ready = null;
let explain = null;
// Why the settings on screen cannot be trained ("" when they can): a value the page cannot even send (the number
// of hidden layers), or the server's refusal of the last settings sent. While either holds, the run buttons are
// disabled and the reason stays on screen, so nothing trains settings other than the ones shown.
let pageProblem = "";
let serverRefusal = "";

const FIELDS = ["dataset", "noise", "n_samples", "validation_fraction", "activation", "init", "loss", "epochs", "seed"];
const NUMERIC = new Set(["noise", "n_samples", "validation_fraction", "epochs", "seed"]);

// ---- settings <-> controls ---------------------------------------------------------------------------
function layersProblem() {
  // The page turns "hidden layers" × "units" into the list the server takes, so it checks the count itself.
  const input = document.getElementById("layers");
  const layers = numberOrText(input);
  const most = options.limits.train_max_hidden_layers;
  if (Number.isInteger(layers) && layers >= 0 && layers <= most) return "";
  return `hidden layers: ${JSON.stringify(input.value)} must be a whole number from 0 to ${most}`;
}

function readConfig() {
  const config = {};
  for (const name of FIELDS) {
    const input = document.getElementById(name);
    config[name] = NUMERIC.has(name) ? numberOrText(input) : input.value;
  }
  const layers = numberOrText(document.getElementById("layers"));
  config.hidden = Array(layers).fill(numberOrText(document.getElementById("units")));
  config.batch_norm = document.getElementById("batch_norm").checked;
  const mode = document.getElementById("batch_mode").value;
  // batch_size null means full batch: a mini-batch k that is not a number is sent as its text, for the server
  // to refuse, rather than as null.
  config.batch_size = mode === "full" ? null : mode === "one" ? 1 : numberOrText(document.getElementById("batch_k"));
  config.optimizer = editor.get();
  return config;
}

function writeControls(config, kValue) {
  for (const name of FIELDS) document.getElementById(name).value = config[name];
  const hidden = config.hidden || [];
  document.getElementById("layers").value = hidden.length;
  document.getElementById("units").value = hidden.length ? hidden[0] : 8;
  document.getElementById("batch_norm").checked = Boolean(config.batch_norm);
  const mode = config.batch_size === null ? "full" : config.batch_size === 1 ? "one" : "k";
  document.getElementById("batch_mode").value = mode;
  document.getElementById("batch_k").value = mode === "k" ? config.batch_size : kValue;
  document.getElementById("batch_k").disabled = mode !== "k";
}

// ---- the connection ----------------------------------------------------------------------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/api/train`);
  socket.addEventListener("open", () => configure());
  socket.addEventListener("message", (event) => receive(JSON.parse(event.data)));
  socket.addEventListener("close", () => {
    setPlaying(false);
    statusLine.textContent = "Disconnected from the server; reload the page to reconnect.";
  });
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

// data-pending (settings changed, not yet sent) and data-sent / data-answered (configure messages and their
// answers, ready or an error answering "configure") let a reader of the page (the browser tests) tell when the
// plots show the latest settings. Settings the page refuses itself are not sent.
function configure() {
  boundaryDiv.dataset.pending = "false";
  pageProblem = layersProblem();
  if (pageProblem) {
    if (playing) send({ type: "pause" });
    showError(pageProblem);
    updateRunButtons();
    return;
  }
  const config = readConfig();
  writeSettingsToURL(config);
  boundaryDiv.dataset.sent = String(Number(boundaryDiv.dataset.sent || 0) + 1);
  send({ type: "configure", config });
}

function updateRunButtons() {
  for (const button of RUN_BUTTONS) button.disabled = Boolean(pageProblem || serverRefusal);
}

const configureLater = debounce(configure, 250);

function configureSoon() {
  boundaryDiv.dataset.pending = "true"; // settings changed; configure() sends them after a short pause
  configureLater();
}

function receive(message) {
  const answersSettings = message.type === "ready" || (message.type === "error" && message.command === "configure");
  if (answersSettings) {
    boundaryDiv.dataset.answered = String(Number(boundaryDiv.dataset.answered || 0) + 1);
    serverRefusal = message.type === "error" ? message.message : "";
    updateRunButtons();
  }
  if (message.type === "error") {
    showError(message.message);
    setPlaying(false);
    return;
  }
  if (pageProblem) showError(pageProblem);
  else clearError();
  if (message.type === "ready") {
    ready = message;
    explain = message.explain;
    setPlaying(false);
    drawIntroduction(message);
    drawFrame(message.frame, true);
  } else if (message.type === "frame") {
    drawFrame(message, false);
    setPlaying(message.playing);
    send({ type: "ack" }); // the server sends the next frame once this one is drawn
  }
}

function setPlaying(value) {
  playing = value;
  playButton.textContent = playing ? "❚❚ Pause" : "▶ Train";
}

// ---- drawing -----------------------------------------------------------------------------------------
function drawIntroduction(message) {
  const points = (set, name, symbol) => ({
    type: "scatter",
    mode: "markers",
    name,
    x: set.x,
    y: set.y,
    marker: {
      symbol,
      size: 6,
      color: set.label.map((c) => (c === 1 ? "#f97316" : "#2563eb")),
      line: { color: "#fff", width: 0.7 },
    },
    hovertemplate: `${name}: (%{x:.2f}, %{y:.2f})<extra></extra>`,
  });
  Plotly.newPlot(
    boundaryDiv,
    [
      {
        type: "heatmap",
        x: message.grid.x,
        y: message.grid.y,
        z: message.frame.boundary,
        zmin: 0,
        zmax: 1,
        colorscale: [
          [0, "#bfdbfe"],
          [0.5, "#f8fafc"],
          [1, "#fed7aa"],
        ],
        zsmooth: "best",
        showscale: false,
        hovertemplate: "(%{x:.2f}, %{y:.2f})<br>P(class 1) = %{z:.3f}<extra></extra>",
      },
      {
        type: "contour",
        x: message.grid.x,
        y: message.grid.y,
        z: message.frame.boundary,
        contours: { start: 0.5, end: 0.5, size: 1, coloring: "lines" },
        line: { color: "#111", width: 2 },
        colorscale: [
          [0, "#111"],
          [1, "#111"],
        ],
        showscale: false,
        hoverinfo: "skip",
        name: "boundary",
      },
      points(message.train, "train", "circle"),
      points(message.val, "validation", "x"),
    ],
    {
      margin: { l: 40, r: 10, t: 30, b: 35 },
      title: { text: "decision boundary (P = 0.5)", font: { size: 13 } },
      xaxis: { range: [message.grid.x[0], message.grid.x.at(-1)] },
      yaxis: { range: [message.grid.y[0], message.grid.y.at(-1)] },
      legend: { orientation: "h", y: -0.1 },
    },
    { responsive: true, displaylogo: false },
  );
  Plotly.newPlot(
    lossDiv,
    [
      { type: "scatter", mode: "lines", name: "training loss", x: [], y: [], line: { color: "#2563eb" } },
      { type: "scatter", mode: "lines", name: "validation loss", x: [], y: [], line: { color: "#f97316" } },
    ],
    {
      margin: { l: 55, r: 10, t: 30, b: 35 },
      title: { text: "loss vs epoch", font: { size: 13 }, x: 0.02, xanchor: "left" },
      xaxis: { title: { text: "epoch" } },
      yaxis: { title: { text: "loss" } },
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.14 },
    },
    { responsive: true, displaylogo: false },
  );
  Plotly.newPlot(
    gradDiv,
    message.layers.map((name, i) => ({
      type: "scatter",
      mode: "lines",
      name,
      x: [],
      y: [],
      line: { color: LAYER_COLORS[i % LAYER_COLORS.length] },
    })),
    {
      margin: { l: 55, r: 10, t: 30, b: 35 },
      title: { text: "gradient norm per layer (last step of each epoch)", font: { size: 13 }, x: 0.02, xanchor: "left" },
      xaxis: { title: { text: "epoch" } },
      yaxis: { title: { text: "norm" }, type: "log" },
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.14 },
    },
    { responsive: true, displaylogo: false },
  );
  boundaryDiv.dataset.epoch = "0";
}

function drawFrame(frame, first) {
  const history = frame.history;
  if (!first) Plotly.restyle(boundaryDiv, { z: [frame.boundary, frame.boundary] }, [0, 1]);
  if (history.epoch.length) {
    Plotly.extendTraces(
      lossDiv,
      { x: [history.epoch, history.epoch], y: [history.train_loss, history.val_loss] },
      [0, 1],
    );
    const names = ready.layers;
    Plotly.extendTraces(
      gradDiv,
      { x: names.map(() => history.epoch), y: names.map((name) => frame.grad_norms[name]) },
      names.map((_, i) => i),
    );
  }
  boundaryDiv.dataset.epoch = String(frame.epoch);
  boundaryDiv.dataset.status = frame.status;
  const last = (key) => (history[key].length ? history[key].at(-1) : null);
  const loss = last("train_loss");
  const parts = [`epoch ${frame.epoch} / ${ready.epochs}`, `step ${frame.step}`];
  if (loss !== null) {
    parts.push(`training loss ${loss.toPrecision(3)}`, `validation loss ${last("val_loss").toPrecision(3)}`);
    parts.push(`accuracy ${(100 * last("train_accuracy")).toFixed(1)}% / ${(100 * last("val_accuracy")).toFixed(1)}%`);
  }
  if (frame.status === "finished") parts.push("finished");
  statusLine.textContent = parts.join(" · ");
  if (frame.status === "diverged") showError(frame.message);
  renderExplain(document.getElementById("explain"), [
    { title: `${ready.parameters} parameters; current update`, ...explain, equations: frame.equations },
  ]);
}

// ---- start-up ----------------------------------------------------------------------------------------
async function main() {
  setupShareButton();
  try {
    options = await getJSON("/api/options");
  } catch (error) {
    showError(`The playground's options could not be loaded: ${error.message}`);
    return;
  }
  const defaults = options.train.defaults;
  const shared = settingsFromURL() || {};
  const config = { ...defaults, ...shared };
  writeControls(config, defaults.batch_size || 32);
  editor = optimizerEditor(
    document.getElementById("optimizer"),
    options,
    config.optimizer,
    configureSoon,
    "train",
    options.train.optimizers,
  );

  for (const id of [...FIELDS, "layers", "units", "batch_norm", "batch_k"]) {
    document.getElementById(id).addEventListener("change", configureSoon);
  }
  document.getElementById("batch_mode").addEventListener("change", () => {
    document.getElementById("batch_k").disabled = document.getElementById("batch_mode").value !== "k";
    configureSoon();
  });
  playButton.addEventListener("click", () => send({ type: playing ? "pause" : "play" }));
  document.getElementById("step").addEventListener("click", () => send({ type: "step" }));
  document.getElementById("reset").addEventListener("click", () => send({ type: "reset" }));
  connect();
  document.body.dataset.ready = "true";
}

main();
