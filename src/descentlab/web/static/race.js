// The Race page: pick a surface, optimizers and starts; the server races them; this page animates the result.
import {
  clearError,
  debounce,
  element,
  getJSON,
  optimizerEditor,
  postJSON,
  numberOrText,
  renderExplain,
  settingsFromURL,
  setupShareButton,
  showError,
  writeSettingsToURL,
} from "/static/common.js";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];
const FIXED_TRACES = 2; // minima, starts (the contour itself is the background plot)

const backgroundDiv = document.getElementById("contour-background");
const contourDiv = document.getElementById("contour");
const lossDiv = document.getElementById("losses");
const statusLine = document.getElementById("race-status");

let options = null;
let settings = null;
let editors = [];
let grid = null;
let animation = null;

function defaultStart(surface) {
  return [...surface.start]; // the start the library suggests: it shows the surface's difficulty
}

function defaultSettings() {
  const names = options.surfaces.map((s) => s.name);
  const surface = options.surfaces[names.indexOf("rosenbrock")] || options.surfaces[0];
  return {
    surface: surface.name,
    steps: 300,
    starts: [defaultStart(surface)],
    racers: [
      { optimizer: "gd", hyperparameters: { lr: 0.001 } },
      { optimizer: "momentum", hyperparameters: { lr: 0.001, beta: 0.9 } },
      { optimizer: "adam", hyperparameters: { lr: 0.05 } },
    ],
  };
}

function currentSettings() {
  return {
    surface: settings.surface,
    steps: numberOrText(document.getElementById("steps")),
    starts: settings.starts,
    racers: editors.map((editor) => editor.get()),
  };
}

function remember() {
  settings = currentSettings();
  writeSettingsToURL(settings);
}

// ---- controls ------------------------------------------------------------------------------------------
function renderRacers() {
  const container = document.getElementById("racers");
  container.replaceChildren();
  editors = settings.racers.map((spec, index) => {
    const box = element("div", { class: "racer", "data-index": String(index) });
    const remove = element("button", { type: "button", class: "remove-racer", text: "remove" });
    remove.disabled = settings.racers.length === 1;
    remove.addEventListener("click", () => {
      remember();
      settings.racers.splice(index, 1);
      renderRacers();
      onSettingsChanged();
    });
    const swatch = element("span", { class: "racer-swatch" });
    swatch.style.background = COLORS[index % COLORS.length];
    box.append(element("div", { class: "racer-head" }, [element("strong", {}, [swatch, `Optimizer ${index + 1}`]), remove]));
    const body = element("div");
    box.append(body);
    container.append(box);
    return optimizerEditor(body, options, spec, onSettingsChanged, `racer${index}`);
  });
  document.getElementById("add-racer").disabled = settings.racers.length >= options.limits.race_max_racers;
}

function renderStarts() {
  const list = document.getElementById("start-list");
  list.replaceChildren(...settings.starts.map(([x, y]) => element("li", { text: `(${x}, ${y})` })));
  if (grid) {
    Plotly.restyle(contourDiv, { x: [settings.starts.map((p) => p[0])], y: [settings.starts.map((p) => p[1])] }, [1]);
  }
}

const refreshExplain = debounce(async () => {
  try {
    const entries = await Promise.all(
      settings.racers.map(async (spec, index) => ({
        title: `Optimizer ${index + 1}: ${spec.optimizer}`,
        ...(await postJSON("/api/explain", spec)),
      })),
    );
    renderExplain(document.getElementById("explain"), entries);
    clearError();
  } catch (error) {
    showError(error.message);
  }
}, 250);

function onSettingsChanged() {
  remember();
  refreshExplain();
}

// ---- plots ---------------------------------------------------------------------------------------------
function displayLevels(z) {
  // Loss surfaces span many decades; contour log10(f − f_min + δ) so the valleys stay visible.
  let zMin = Infinity;
  let zMax = -Infinity;
  for (const row of z) for (const v of row) if (v !== null) { zMin = Math.min(zMin, v); zMax = Math.max(zMax, v); }
  const delta = Math.max((zMax - zMin) * 1e-6, 1e-12);
  return z.map((row) => row.map((v) => (v === null ? null : Math.log10(v - zMin + delta))));
}

// Both layers use the same fixed margins (no automatic expansion) so that their axes coincide exactly;
// only the background draws the axes.
function sharedLayout(axesVisible) {
  const axis = (range, title) => ({ range, fixedrange: true, visible: axesVisible, title: { text: title } });
  return {
    margin: { l: 45, r: 10, t: 30, b: 95, autoexpand: false },
    xaxis: axis(grid.bounds[0], "θ₁"),
    yaxis: axis(grid.bounds[1], "θ₂"),
    dragmode: false,
  };
}

async function loadSurface(name) {
  grid = await getJSON(`/api/surfaces/${encodeURIComponent(name)}?n=100`);
  document.getElementById("surface-description").textContent =
    (grid.formula ? `f = ${grid.formula}. ` : "") + grid.description;
  const contour = {
    type: "contour",
    x: grid.x,
    y: grid.y,
    z: displayLevels(grid.z),
    colorscale: "Viridis",
    ncontours: 30,
    showscale: false,
    contours: { coloring: "heatmap" },
    line: { width: 0.5, color: "rgba(255,255,255,0.35)" },
    hoverinfo: "skip",
  };
  const config = { responsive: true, displaylogo: false, displayModeBar: false };
  await Plotly.newPlot(
    backgroundDiv,
    [contour],
    { ...sharedLayout(true), title: { text: `${grid.name}: click to place starts`, font: { size: 13 } }, showlegend: false },
    { ...config, staticPlot: true },
  );
  const overlay = [
    {
      type: "scatter",
      mode: "markers",
      name: "minimum",
      x: grid.minima.map((p) => p[0]),
      y: grid.minima.map((p) => p[1]),
      marker: { symbol: "star", size: 14, color: "#fde047", line: { color: "#111", width: 1 } },
      hovertemplate: "minimum (%{x:.4g}, %{y:.4g})<extra></extra>",
    },
    {
      type: "scatter",
      mode: "markers",
      name: "starts",
      x: settings.starts.map((p) => p[0]),
      y: settings.starts.map((p) => p[1]),
      marker: { symbol: "circle", size: 11, color: "#fff", line: { color: "#111", width: 2 } },
      hovertemplate: "start (%{x}, %{y})<extra></extra>",
    },
  ];
  await Plotly.newPlot(
    contourDiv,
    overlay,
    {
      ...sharedLayout(false),
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      showlegend: true,
      legend: { orientation: "h", x: 0, y: -0.15, yanchor: "top" },
      hovermode: "closest",
    },
    config,
  );
  // A click anywhere in the plotting area adds a start at that point.
  contourDiv.querySelector(".nsewdrag").addEventListener("click", (event) => {
    const rect = event.currentTarget.getBoundingClientRect();
    const layout = contourDiv._fullLayout;
    addStart(layout.xaxis.p2l(event.clientX - rect.left), layout.yaxis.p2l(event.clientY - rect.top));
  });
  await Plotly.newPlot(
    lossDiv,
    [],
    {
      margin: { l: 55, r: 10, t: 30, b: 40 },
      title: { text: "loss vs step", font: { size: 13 } },
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: "loss" }, type: "log" },
      hovermode: "closest",
    },
    { responsive: true, displaylogo: false },
  );
  contourDiv.dataset.frame = "0";
  contourDiv.dataset.state = "ready";
}

function addStart(x, y) {
  const round = (v) => Math.round(v * 1000) / 1000;
  if (settings.starts.length >= options.limits.race_max_starts) {
    showError(`At most ${options.limits.race_max_starts} starts; press "Clear starts" to begin again.`);
    return;
  }
  settings.starts.push([round(x), round(y)]);
  renderStarts();
  remember();
}

// ---- the race ------------------------------------------------------------------------------------------
async function play() {
  stopAnimation();
  remember();
  clearError();
  statusLine.textContent = "racing…";
  let result;
  try {
    result = await postJSON("/api/race", settings);
  } catch (error) {
    statusLine.textContent = "";
    showError(error.message);
    return;
  }
  renderExplain(
    document.getElementById("explain"),
    result.runs.map((run) => ({ title: run.label, ...run.explain })),
  );
  animate(result);
}

function runTraces(result) {
  const paths = [];
  const curves = [];
  result.runs.forEach((run, r) => {
    const color = COLORS[r % COLORS.length];
    run.starts.forEach((start, s) => {
      const n = start.losses.length;
      const customdata = start.losses.map((loss, t) => [t, loss]);
      const where = run.starts.length > 1 ? ` (start ${s + 1})` : "";
      const name = run.label;
      paths.push({
        full: { x: start.trajectory[0], y: start.trajectory[1], customdata },
        trace: {
          type: "scatter",
          mode: "lines+markers",
          name,
          legendgroup: run.label,
          showlegend: s === 0,
          x: [],
          y: [],
          customdata: [],
          line: { color, width: 2 },
          marker: { color, size: 3 },
          hovertemplate: `<b>${run.label}</b>${where}<br>step %{customdata[0]}<br>θ = (%{x:.4f}, %{y:.4f})<br>loss %{customdata[1]:.4g}<extra></extra>`,
        },
        length: n,
      });
      curves.push({
        full: { x: customdata.map((c) => c[0]), y: start.losses, customdata },
        trace: {
          type: "scatter",
          mode: "lines",
          name,
          legendgroup: run.label,
          showlegend: false,
          x: [],
          y: [],
          customdata: [],
          line: { color, width: 2, dash: ["solid", "dot", "dash", "longdash", "dashdot"][s % 5] },
          hovertemplate: `<b>${run.label}</b>${where}<br>step %{x}<br>θ = (%{customdata[2]:.4f}, %{customdata[3]:.4f})<br>loss %{y:.4g}<extra></extra>`,
        },
        length: n,
      });
      curves[curves.length - 1].full.customdata = customdata.map((c, t) => [c[0], c[1], start.trajectory[0][t], start.trajectory[1][t]]);
    });
  });
  return { paths, curves };
}

async function animate(result) {
  const { paths, curves } = runTraces(result);
  // Remove the previous race's trajectories, keep the contour, minima and starts.
  const extra = contourDiv.data.length - FIXED_TRACES;
  if (extra > 0) await Plotly.deleteTraces(contourDiv, [...Array(extra).keys()].map((i) => i + FIXED_TRACES));
  await Plotly.addTraces(contourDiv, paths.map((p) => p.trace));
  const positive = result.runs.every((run) => run.starts.every((s) => s.losses.every((v) => v === null || v > 0)));
  await Plotly.react(lossDiv, curves.map((c) => c.trace), { ...lossDiv.layout, yaxis: { ...lossDiv.layout.yaxis, type: positive ? "log" : "linear" } });

  const speed = Number(document.getElementById("speed").value);
  const perTick = Math.max(1, Math.ceil(result.steps / 600)) * speed;
  let frame = 0;
  contourDiv.dataset.state = "playing";
  const pathIndices = paths.map((_, i) => i + FIXED_TRACES);
  const curveIndices = curves.map((_, i) => i);
  const slice = (items, upto) => ({
    x: items.map((p) => p.full.x.slice(0, upto)),
    y: items.map((p) => p.full.y.slice(0, upto)),
    customdata: items.map((p) => p.full.customdata.slice(0, upto)),
  });
  const tick = () => {
    frame = Math.min(result.steps + 1, frame + perTick);
    Plotly.restyle(contourDiv, slice(paths, frame), pathIndices);
    Plotly.restyle(lossDiv, slice(curves, frame), curveIndices);
    contourDiv.dataset.frame = String(frame - 1);
    statusLine.textContent = `step ${frame - 1} / ${result.steps}`;
    if (frame <= result.steps) {
      animation = requestAnimationFrame(tick);
    } else {
      animation = null;
      contourDiv.dataset.state = "done";
      statusLine.textContent = summary(result);
    }
  };
  animation = requestAnimationFrame(tick);
}

function summary(result) {
  const lines = result.runs.map((run) => {
    const parts = run.starts.map((s, i) => {
      const where = run.starts.length > 1 ? `start ${i + 1}: ` : "";
      if (s.failure) return `${where}stopped at step ${s.diverged_at}: ${s.failure}`;
      if (s.diverged_at !== null) return `${where}diverged at step ${s.diverged_at}`;
      return `${where}loss ${s.final_loss === null ? "—" : s.final_loss.toPrecision(3)}`;
    });
    return `${run.label} — ${parts.join(", ")}`;
  });
  return `Finished ${result.steps} steps. ` + lines.join("; ");
}

function stopAnimation() {
  if (animation !== null) cancelAnimationFrame(animation);
  animation = null;
}

// ---- start-up ------------------------------------------------------------------------------------------
async function main() {
  setupShareButton();
  try {
    options = await getJSON("/api/options");
  } catch (error) {
    showError(`The playground's options could not be loaded: ${error.message}`);
    return;
  }
  const surfaceSelect = document.getElementById("surface");
  surfaceSelect.replaceChildren(...options.surfaces.map((s) => element("option", { value: s.name, text: s.name })));
  const shared = settingsFromURL();
  settings = { ...defaultSettings(), ...(shared || {}) };
  const known = options.surfaces.find((s) => s.name === settings.surface);
  if (!known) {
    showError(`The link names an unknown surface ${JSON.stringify(settings.surface)}; showing ${defaultSettings().surface}.`);
    settings.surface = defaultSettings().surface;
  }
  surfaceSelect.value = settings.surface;
  document.getElementById("steps").value = settings.steps;
  renderRacers();
  await loadSurface(settings.surface);
  renderStarts();
  remember();
  refreshExplain();

  surfaceSelect.addEventListener("change", async () => {
    stopAnimation();
    settings.surface = surfaceSelect.value;
    settings.starts = [defaultStart(options.surfaces.find((s) => s.name === settings.surface))];
    try {
      await loadSurface(settings.surface);
      clearError();
    } catch (error) {
      showError(error.message);
    }
    renderStarts();
    remember();
  });
  document.getElementById("steps").addEventListener("change", remember);
  document.getElementById("clear-starts").addEventListener("click", () => {
    settings.starts = [];
    renderStarts();
    remember();
  });
  document.getElementById("add-racer").addEventListener("click", () => {
    remember();
    settings.racers.push({ optimizer: "rmsprop", hyperparameters: { lr: 0.01 } });
    renderRacers();
    onSettingsChanged();
  });
  document.getElementById("play").addEventListener("click", play);
  document.body.dataset.ready = "true";
}

main();
