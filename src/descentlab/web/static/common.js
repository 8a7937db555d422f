// Shared by the Race and Train pages: talking to the server, errors, the explain panel,
// the optimizer editor and the shareable URL. All computation happens on the server.

export async function getJSON(path) {
  const response = await fetch(path);
  return unpack(response);
}

export async function postJSON(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return unpack(response);
}

async function unpack(response) {
  let payload = null;
  try {
    payload = await response.json();
  } catch (error) {
    throw new Error(`the server answered ${response.status} without JSON`);
  }
  if (!response.ok) {
    throw new Error(payload && payload.error ? payload.error : `the server answered ${response.status}`);
  }
  return payload;
}

// ---- errors ---------------------------------------------------------------------------------------
export function showError(message) {
  const banner = document.getElementById("error");
  banner.textContent = message;
  banner.hidden = false;
}

export function clearError() {
  const banner = document.getElementById("error");
  banner.textContent = "";
  banner.hidden = true;
}

// ---- explain panel --------------------------------------------------------------------------------
export function renderExplain(container, entries) {
  container.replaceChildren();
  for (const entry of entries) {
    const section = document.createElement("section");
    section.className = "explain-entry";
    if (entry.title) {
      const title = document.createElement("h3");
      title.textContent = entry.title;
      section.append(title);
    }
    const equations = document.createElement("pre");
    equations.className = "equations";
    equations.textContent = entry.equations;
    section.append(equations);
    for (const line of [entry.schedule, entry.clip]) {
      if (!line) continue;
      const p = document.createElement("p");
      p.className = "explain-line";
      p.textContent = line;
      section.append(p);
    }
    if (entry.note) {
      const note = document.createElement("p");
      note.className = "note";
      note.textContent = "Watch for: " + entry.note;
      section.append(note);
    }
    container.append(section);
  }
}

// ---- shareable URL: the settings as base64url JSON in the fragment (#s=…) --------------------------
export function encodeSettings(settings) {
  const bytes = new TextEncoder().encode(JSON.stringify(settings));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeSettings(text) {
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") + "===".slice((text.length + 3) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

export function settingsFromURL() {
  const match = location.hash.match(/[#&]s=([A-Za-z0-9_-]+)/);
  if (!match) return null;
  try {
    return decodeSettings(match[1]);
  } catch (error) {
    showError("The shared link's settings could not be read; the defaults are shown instead.");
    return null;
  }
}

export function writeSettingsToURL(settings) {
  const url = `${location.pathname}#s=${encodeSettings(settings)}`;
  history.replaceState(null, "", url);
  const field = document.getElementById("share-url");
  if (field) field.value = location.href;
}

export function setupShareButton() {
  const button = document.getElementById("share");
  const field = document.getElementById("share-url");
  button.addEventListener("click", async () => {
    field.value = location.href;
    field.hidden = false;
    field.select();
    try {
      await navigator.clipboard.writeText(location.href);
      button.textContent = "Link copied";
    } catch (error) {
      button.textContent = "Copy the link below";
    }
    setTimeout(() => (button.textContent = "Share link"), 2000);
  });
}

// ---- optimizer editor ------------------------------------------------------------------------------
const SYMBOLS = {
  lr: "lr α",
  beta: "β",
  beta1: "β₁",
  beta2: "β₂",
  eps: "ε",
  rho: "ρ",
  momentum: "momentum",
  weight_decay: "weight decay",
  damping: "damping λ",
  lr_decay: "lr decay",
  momentum_decay: "momentum decay",
  dampening: "dampening",
  min_curvature: "min curvature",
  initial_accumulator_value: "initial accumulator",
};
// The hyperparameters the editor shows (others keep the library's defaults).
const SHOWN = ["lr", "beta", "beta1", "beta2", "eps", "rho", "momentum", "weight_decay", "damping", "amsgrad"];
const SCHEDULE_LABELS = {
  constant: "constant",
  step: "step decay",
  exponential: "exponential",
  inverse_time: "1/t",
  linear_to_tau: "linear to τ",
  cosine: "cosine",
  warmup: "warm-up",
};
const SCHEDULE_DEFAULTS = { factor: 0.5, every: 100, k: 0.01, steps: 100, lr_min: 0, lr_tau: 0.0001, tau: 200 };

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function labelled(text, control) {
  return element("label", { class: "field" }, [element("span", { text }), control]);
}

function numberInput(name, value, attributes = {}) {
  return element("input", { type: "number", step: "any", name, value: value ?? "", ...attributes });
}

export function numberOrText(input) {
  // A field that does not hold a finite number is sent as its text (empty included), which the server refuses
  // naming the field and the value: never as null, which some fields take to mean something (full batch).
  const text = input.value.trim();
  const value = Number(text);
  return text !== "" && Number.isFinite(value) ? value : text;
}

/**
 * Build the controls for one optimizer spec inside `container`.
 * `options.optimizers` maps names to their default hyperparameters; `options.schedules` to parameter names.
 * `names` restricts the optimizers offered. Returns {get(): spec}. `onChange` runs after every edit.
 */
export function optimizerEditor(container, options, spec, onChange, prefix = "opt", names = null) {
  const choices = names || Object.keys(options.optimizers);
  let current = structuredClone(spec);
  container.classList.add("optimizer-editor");

  function render() {
    container.replaceChildren();
    const defaults = options.optimizers[current.optimizer];
    const select = element(
      "select",
      { name: `${prefix}-optimizer` },
      choices.map((name) =>
        element("option", { value: name, text: name, ...(name === current.optimizer ? { selected: "" } : {}) }),
      ),
    );
    select.addEventListener("change", () => {
      const lr = current.hyperparameters.lr;
      current = { ...current, optimizer: select.value, hyperparameters: lr !== undefined ? { lr } : {} };
      render();
      onChange();
    });
    container.append(labelled("optimizer", select));

    const grid = element("div", { class: "hyper-grid" });
    for (const name of SHOWN) {
      if (!(name in defaults)) continue;
      const value = name in current.hyperparameters ? current.hyperparameters[name] : defaults[name];
      let control;
      if (typeof defaults[name] === "boolean") {
        control = element("input", { type: "checkbox", name: `${prefix}-${name}`, ...(value ? { checked: "" } : {}) });
        control.addEventListener("change", () => {
          current.hyperparameters[name] = control.checked;
          onChange();
        });
      } else {
        control = numberInput(`${prefix}-${name}`, value);
        control.addEventListener("change", () => {
          current.hyperparameters[name] = numberOrText(control);
          onChange();
        });
      }
      grid.append(labelled(SYMBOLS[name] || name, control));
    }
    container.append(grid);

    const schedule = current.schedule || { type: "constant", params: {} };
    const scheduleSelect = element(
      "select",
      { name: `${prefix}-schedule` },
      Object.keys(options.schedules).map((kind) =>
        element("option", {
          value: kind,
          text: SCHEDULE_LABELS[kind] || kind,
          ...(kind === schedule.type ? { selected: "" } : {}),
        }),
      ),
    );
    scheduleSelect.addEventListener("change", () => {
      const params = {};
      for (const p of options.schedules[scheduleSelect.value]) params[p] = SCHEDULE_DEFAULTS[p] ?? 1;
      current.schedule = { type: scheduleSelect.value, params };
      render();
      onChange();
    });
    const scheduleRow = element("div", { class: "hyper-grid" }, [labelled("schedule", scheduleSelect)]);
    for (const p of options.schedules[schedule.type] || []) {
      const input = numberInput(`${prefix}-schedule-${p}`, schedule.params[p] ?? SCHEDULE_DEFAULTS[p]);
      input.addEventListener("change", () => {
        current.schedule.params[p] = numberOrText(input);
        onChange();
      });
      scheduleRow.append(labelled(p, input));
    }
    container.append(scheduleRow);

    const clip = current.clip || { mode: "none", threshold: 1 };
    const clipSelect = element(
      "select",
      { name: `${prefix}-clip` },
      ["none", "norm", "value"].map((mode) =>
        element("option", { value: mode, text: `clip: ${mode}`, ...(mode === clip.mode ? { selected: "" } : {}) }),
      ),
    );
    const threshold = numberInput(`${prefix}-clip-threshold`, clip.threshold);
    threshold.disabled = clip.mode === "none";
    clipSelect.addEventListener("change", () => {
      current.clip = { mode: clipSelect.value, threshold: numberOrText(threshold) };
      threshold.disabled = clipSelect.value === "none";
      onChange();
    });
    threshold.addEventListener("change", () => {
      current.clip = { mode: clipSelect.value, threshold: numberOrText(threshold) };
      onChange();
    });
    container.append(element("div", { class: "hyper-grid" }, [labelled("clipping", clipSelect), labelled("at", threshold)]));
  }

  render();
  return {
    get() {
      const out = structuredClone(current);
      if (!out.schedule) out.schedule = { type: "constant", params: {} };
      if (!out.clip) out.clip = { mode: "none", threshold: 1 };
      if (out.clip.mode === "none" && typeof out.clip.threshold !== "number") out.clip.threshold = 1; // unused
      return out;
    },
  };
}

export { element, labelled, numberInput };

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
