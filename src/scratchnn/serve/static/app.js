// The drawing page of `scratchnn serve`: a pad to draw on, the network's answer
// as you draw, and a look inside (the 28x28 input, a saliency map, hidden layers).
// Plain JavaScript, no libraries: everything the page needs comes from the server.
"use strict";

const LINE_WIDTH = 20;      // pad pixels; a digit drawn ~200 px tall gets MNIST-like strokes
const THROTTLE_MS = 120;    // while drawing, at most one prediction per this interval
// The drawing is sent at half the pad's size: still 7 times the 20x20 box the
// network gets, and a quarter of the pixels for the server to decode and frame.
const SENT_SIDE = 140;
const DATASET_NAMES = { "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST" };

const pad = document.getElementById("pad");
const padContext = pad.getContext("2d");
const prediction = document.getElementById("prediction");
const detail = document.getElementById("detail");
const bars = document.getElementById("bars");
const seen = document.getElementById("seen");
const saliencyCanvas = document.getElementById("saliency");
const layersBox = document.getElementById("layers");

const state = {
  model: null,
  hasInk: false,
  stroke: null,       // {pointerId, last: {x, y}} while a pointer draws
  timer: null,        // pending throttled prediction
  inFlight: false,
  again: false,       // the drawing changed while a request was in flight
  epoch: 0,           // bumped by Clear: answers to older drawings are dropped
  updates: 0,        // how many times the answer area changed (tests wait on it)
};

// ---- drawing -------------------------------------------------------------

function clearPad() {
  padContext.fillStyle = "#fff";
  padContext.fillRect(0, 0, pad.width, pad.height);
}

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  return {
    x: (event.clientX - box.left) * (pad.width / box.width),
    y: (event.clientY - box.top) * (pad.height / box.height),
  };
}

function inkLine(from, to) {
  padContext.strokeStyle = "#000";
  padContext.lineWidth = LINE_WIDTH;
  padContext.lineCap = "round";
  padContext.lineJoin = "round";
  padContext.beginPath();
  padContext.moveTo(from.x, from.y);
  padContext.lineTo(to.x, to.y);
  padContext.stroke();
}

// Anything that puts ink on the pad announces it with this event, so that
// strokes (and a test drawing an image straight into the pad) take one path.
function announceInk(immediate) {
  pad.dispatchEvent(new CustomEvent("inkchange", { detail: { immediate } }));
}

pad.addEventListener("pointerdown", (event) => {
  if (event.pointerType === "mouse" && event.button !== 0) return;
  if (state.stroke) return;  // a second finger does not start another stroke
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  const point = padPoint(event);
  state.stroke = { pointerId: event.pointerId, last: point };
  inkLine(point, point);  // a tap leaves a dot
  announceInk(false);
});

pad.addEventListener("pointermove", (event) => {
  if (!state.stroke || event.pointerId !== state.stroke.pointerId) return;
  event.preventDefault();
  // Coalesced events keep fast strokes smooth where the browser batches moves.
  const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const move of moves.length ? moves : [event]) {
    const point = padPoint(move);
    inkLine(state.stroke.last, point);
    state.stroke.last = point;
  }
  announceInk(false);
});

function endStroke(event) {
  if (!state.stroke || event.pointerId !== state.stroke.pointerId) return;
  state.stroke = null;
  announceInk(true);
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

pad.addEventListener("inkchange", (event) => {
  state.hasInk = true;
  if (event.detail && event.detail.immediate) {
    clearTimeout(state.timer);
    state.timer = null;
    requestPrediction();
  } else if (state.timer === null) {
    state.timer = setTimeout(() => { state.timer = null; requestPrediction(); }, THROTTLE_MS);
  }
  markBusy();
});

document.getElementById("clear").addEventListener("click", () => {
  clearTimeout(state.timer);
  state.timer = null;
  state.again = false;
  state.epoch += 1;
  state.hasInk = false;
  clearPad();
  showBlank("");
  markBusy();
});

// ---- asking the server ---------------------------------------------------

async function requestPrediction() {
  if (state.inFlight) { state.again = true; return; }
  state.inFlight = true;
  markBusy();
  try {
    await predictOnce();
  } finally {
    state.inFlight = false;
  }
  if (state.again) { state.again = false; requestPrediction(); }
  markBusy();
}

// data-busy="false" once the answer shown is the one for the drawing on the pad.
function markBusy() {
  const busy = state.inFlight || state.again || state.timer !== null;
  prediction.dataset.busy = String(busy);
}

const sent = document.createElement("canvas");
sent.width = sent.height = SENT_SIDE;

function sentImage() {
  const context = sent.getContext("2d");
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(pad, 0, 0, SENT_SIDE, SENT_SIDE);
  return sent.toDataURL("image/png");
}

async function predictOnce() {
  const epoch = state.epoch;
  if (!state.hasInk) { showBlank(""); return; }
  const body = JSON.stringify({
    image: sentImage(), activations: true, saliency: true, input: true,
  });
  const started = performance.now();
  let response, answer;
  try {
    response = await fetch("/api/predict", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    answer = await response.json();
  } catch (error) {
    if (epoch === state.epoch) showError(`no answer from the server (${error.message})`);
    return;
  }
  if (epoch !== state.epoch) return;  // cleared meanwhile
  const elapsed = performance.now() - started;
  if (response.ok) showAnswer(answer, elapsed);
  else if (response.status === 422) showBlank(answer.error);  // too little ink to read
  else showError(answer.error || `the server answered ${response.status}`);
}

// ---- showing the answer --------------------------------------------------

function markAnswered(stateName) {
  state.updates += 1;
  prediction.dataset.state = stateName;
  prediction.dataset.updates = String(state.updates);
}

function showBlank(message) {
  prediction.textContent = "draw a digit";
  delete prediction.dataset.class;
  detail.textContent = message || "";
  for (const item of bars.children) {
    item.classList.remove("winner");
    item.querySelector(".fill").style.width = "0";
    item.querySelector(".value").textContent = "";
    delete item.dataset.probability;
  }
  seen.getContext("2d").clearRect(0, 0, 28, 28);
  saliencyCanvas.getContext("2d").clearRect(0, 0, 28, 28);
  layersBox.replaceChildren(note("Draw a digit to see its hidden layers light up."));
  markAnswered("blank");
}

function showError(message) {
  prediction.textContent = message;
  delete prediction.dataset.class;
  detail.textContent = "";
  markAnswered("error");
}

function showAnswer(answer, elapsedMs) {
  const names = state.model ? state.model.classes : answer.probabilities.map((_, i) => String(i));
  const p = answer.probabilities[answer.class];
  prediction.replaceChildren(el("strong", names[answer.class]), ` (${percent(p)} sure)`);
  prediction.dataset.class = String(answer.class);
  detail.textContent = `answered in ${Math.round(elapsedMs)} ms`;
  answer.probabilities.forEach((probability, i) => {
    const item = bars.children[i];
    item.classList.toggle("winner", i === answer.class);
    item.dataset.probability = String(probability);
    item.querySelector(".fill").style.width = `${(100 * probability).toFixed(2)}%`;
    item.querySelector(".value").textContent = percent(probability);
  });
  if (answer.input) drawInput(answer.input);
  if (answer.saliency) drawSaliency(answer.saliency, answer.input);
  if (answer.activations) drawLayers(answer.activations);
  markAnswered("answered");
}

function percent(p) {
  return `${(100 * p).toFixed(1)}%`;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function note(text) {
  return el("p", text, "caption");
}

function drawInput(pixels) {
  const image = new ImageData(28, 28);
  pixels.flat().forEach((value, i) => {
    const grey = Math.round(255 * value);
    image.data.set([grey, grey, grey, 255], 4 * i);
  });
  seen.getContext("2d").putImageData(image, 0, 0);
}

// The gradient laid over the dimmed input: red where more ink would raise the
// answer's score, blue where it would lower it; full colour at the 99th
// percentile of |gradient|, so that a few extreme pixels do not wash out the rest.
function drawSaliency(gradient, pixels) {
  const values = gradient.flat();
  const ink = pixels ? pixels.flat() : values.map(() => 0);
  const sizes = values.map(Math.abs).sort((a, b) => a - b);
  const scale = sizes[Math.floor(0.99 * (sizes.length - 1))] || sizes[sizes.length - 1] || 1;
  const image = new ImageData(28, 28);
  values.forEach((value, i) => {
    const strength = Math.min(Math.abs(value) / scale, 1);
    const colour = value > 0 ? [230, 50, 35] : [40, 120, 255];
    const base = 110 * ink[i];
    image.data.set([...colour.map((c) => Math.round(base + strength * (c - base))), 255], 4 * i);
  });
  saliencyCanvas.getContext("2d").putImageData(image, 0, 0);
}

// Activation 0 -> black, the layer's largest -> pale yellow, through purple and orange.
const HEAT = [[0, 0, 0], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]];
function heat(t) {
  const x = Math.min(Math.max(t, 0), 1) * (HEAT.length - 1);
  const i = Math.min(Math.floor(x), HEAT.length - 2);
  const f = x - i;
  return HEAT[i].map((a, k) => Math.round(a + f * (HEAT[i + 1][k] - a)));
}

function drawLayers(activations) {
  const described = state.model ? state.model.hidden : [];
  const boxes = activations.map((layer, n) => {
    const info = described.find((d) => d.layer === layer.layer);
    const box = el("div", undefined, "layer");
    box.append(el("h3", `Hidden layer ${n + 1}${info ? `: ${info.name}` : ""}`));
    if (layer.shape.length === 3) box.append(featureMaps(layer.values));
    else box.append(unitGrid(layer.values), unitNote(layer.values));
    return box;
  });
  layersBox.replaceChildren(...boxes);
}

function unitGrid(values) {
  const n = values.length;
  const columns = Math.max(Math.min(n, 16), Math.ceil(Math.sqrt(n)));
  const rows = Math.ceil(n / columns);
  const cell = n <= 256 ? 14 : n <= 1024 ? 8 : 4;
  const canvas = document.createElement("canvas");
  canvas.width = columns * cell;
  canvas.height = rows * cell;
  const context = canvas.getContext("2d");
  const top = Math.max(...values) || 1;
  values.forEach((value, i) => {
    context.fillStyle = `rgb(${heat(value / top).join(",")})`;
    context.fillRect((i % columns) * cell, Math.floor(i / columns) * cell, cell - 1, cell - 1);
  });
  return canvas;
}

function unitNote(values) {
  const active = values.filter((v) => v > 0).length;
  return el("p", `${active} of ${values.length} units active`, "note");
}

function featureMaps(maps) {
  const wrap = el("div", undefined, "maps");
  const top = Math.max(...maps.flat(2)) || 1;
  for (const map of maps) {
    const height = map.length, width = map[0].length;
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    canvas.style.width = `${2 * width}px`;
    const image = new ImageData(width, height);
    map.flat().forEach((value, i) => image.data.set([...heat(value / top), 255], 4 * i));
    canvas.getContext("2d").putImageData(image, 0, 0);
    wrap.append(canvas);
  }
  return wrap;
}

// ---- start ---------------------------------------------------------------

function buildBars(names) {
  bars.replaceChildren(...names.map((name) => {
    const item = el("li");
    const track = el("span", undefined, "track");
    track.append(el("span", undefined, "fill"));
    item.append(el("span", name, "label"), track, el("span", "", "value"));
    return item;
  }));
}

async function start() {
  clearPad();
  buildBars(Array.from({ length: 10 }, (_, i) => String(i)));
  showBlank("");
  try {
    const response = await fetch("/api/model");
    state.model = await response.json();
  } catch (error) {
    document.getElementById("model-summary").textContent = `cannot describe the model (${error.message})`;
    return;
  }
  const m = state.model;
  buildBars(m.classes);
  const accuracy = m.test_accuracy == null ? "" : `, test accuracy ${(100 * m.test_accuracy).toFixed(2)}%`;
  document.getElementById("model-summary").textContent =
    `${m.layers.join(" \u2192 ")} \u00b7 ${m.parameters.toLocaleString("en")} parameters \u00b7 ` +
    `trained on ${DATASET_NAMES[m.dataset] || m.dataset}${accuracy}`;
  document.body.dataset.ready = "true";
}

start();
