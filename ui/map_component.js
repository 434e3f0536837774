// The map in the browser: the figure arrives once per map and stays; a rerun only restyles the overlay
// traces (ringed neighbours, the clicked point, the real points of a zoomed region). Clicks, box/lasso
// selections and (large maps) zooms go back to Python as trigger values.
// Plotly comes from the plotly Python package (sent once per page, run as a classic script): no network.

const FIGURES = (window.__fseMapFigures = window.__fseMapFigures || new Map());
const KEEP_FIGURES = 4;
const OVERLAYS = ["selected", "region", "search", "ring", "focus"];

function loadPlotly(source) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (window.__fsePlotlyLoading) return window.__fsePlotlyLoading;
  if (!source) return null;
  window.__fsePlotlyLoading = new Promise((resolve, reject) => {
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    const script = document.createElement("script");
    script.src = url;  // a classic script: plotly's bundle is not written to run as a strict module
    script.onload = () => resolve(window.Plotly);
    script.onerror = () => { window.__fsePlotlyLoading = null; reject(new Error("plotly.js failed to load")); };
    document.head.appendChild(script);
  });
  return window.__fsePlotlyLoading;
}

function remember(mapId, figure) {
  FIGURES.delete(mapId);
  FIGURES.set(mapId, figure);
  while (FIGURES.size > KEEP_FIGURES) FIGURES.delete(FIGURES.keys().next().value);
}

function overlayTrace(name, spec, dims, webgl, style) {
  const t = {
    // SVG overlays on an SVG map: a WebGL context only for a few rings would cost more than it saves.
    type: dims === 3 ? "scatter3d" : webgl ? "scattergl" : "scatter", mode: "markers", name: style.name, showlegend: false,
    x: spec ? spec.x : [], y: spec ? spec.y : [], customdata: spec ? spec.rows : [],
    text: spec ? spec.text : [], hovertemplate: "%{text}<extra></extra>", marker: { ...style.marker },
    meta: "fse-" + name,
  };
  if (dims === 3) t.z = spec && spec.z ? spec.z : [];
  if (spec && spec.color && name === "region") t.marker.color = spec.color;
  return t;
}

const STYLES = {
  selected: { name: "selected", marker: { size: 9, color: "rgba(0,0,0,0)", line: { color: "#333", width: 1 } } },
  region: { name: "points here", marker: { size: 4, opacity: 0.9 } },
  // The search box's matches (ui/map_search.py: RING_NAME, RING_COLOUR): magenta, apart from the black
  // neighbour rings and the gold clicked point.
  search: { name: "search matches", marker: { size: 20, color: "rgba(0,0,0,0)", line: { color: "#d6006f", width: 3 } } },
  ring: { name: "neighbours", marker: { size: 13, color: "rgba(0,0,0,0)", line: { color: "black", width: 2 } } },
  focus: { name: "clicked image", marker: { size: 17, color: "gold", symbol: "diamond", line: { color: "black", width: 2 } } },
};

function overlayTraces(data) {
  const o = data.overlay || {};
  return OVERLAYS.map((name) => overlayTrace(name, o[name], data.dims, data.webgl !== false, STYLES[name]));
}

function rowOf(point) {
  let c = point.customdata;
  if (Array.isArray(c)) c = c[0];
  return Number.isInteger(c) ? c : null;
}

function attach(state, plot, send) {
  plot.on("plotly_click", (ev) => {
    const point = ev && ev.points && ev.points[0];
    const row = point ? rowOf(point) : null;
    if (row === null || String(row) === plot.dataset.focusRow) return;  // already the clicked image
    state.seq += 1;
    plot.dataset.pendingRow = String(row);
    // Sent first: Python looks the neighbours up while the browser redraws (a redraw of a large map's
    // WebGL points takes 50-100 ms). Instant feedback: the clicked point is starred before the answer.
    send("click", { row, seq: state.seq });
    const i = state.base + OVERLAYS.indexOf("focus");
    const upd = { x: [[point.x]], y: [[point.y]], customdata: [[row]], text: [[point.text || ""]] };
    if (state.dims === 3) upd.z = [[point.z]];
    window.Plotly.restyle(plot, upd, [i]);
  });
  plot.on("plotly_selected", (ev) => {
    if (!ev) return;
    state.seq += 1;
    const rows = (ev.points || []).map(rowOf).filter((r) => r !== null);
    const out = { seq: state.seq, rows: state.large ? [] : rows };
    if (ev.range && ev.range.x) out.box = { x: ev.range.x, y: ev.range.y };
    else if (ev.lassoPoints && ev.lassoPoints.x) out.lasso = { x: ev.lassoPoints.x, y: ev.lassoPoints.y };
    if (!out.box && !out.lasso && !rows.length) return;
    send("select", out);
  });
  plot.on("plotly_relayout", (ev) => {
    if (!state.large || !ev) return;
    clearTimeout(state.viewTimer);
    state.viewTimer = setTimeout(() => {
      const layout = plot._fullLayout;
      if (!layout || !layout.xaxis) return;
      const auto = ev["xaxis.autorange"] || ev.autosize;
      const view = { x: auto ? null : layout.xaxis.range.slice(), y: auto ? null : layout.yaxis.range.slice() };
      // The first draw and every resize report a relayout too: a view Python already has costs a rerun
      // (and a redraw) for nothing, just when a visitor clicks the map they have just been shown.
      const key = JSON.stringify(view);
      if (key === state.lastView) return;
      state.lastView = key;
      state.seq += 1;
      send("view", { seq: state.seq, ...view });
    }, 250);
  });
}

const DTYPES = { f4: Float32Array, f8: Float64Array, i1: Int8Array, u1: Uint8Array, i2: Int16Array,
  u2: Uint16Array, i4: Int32Array, u4: Uint32Array };

function numbers(v) {  // a plotly.py array: a list, or typed base64 {dtype, bdata}
  if (Array.isArray(v)) return v;
  if (!v || !v.bdata || !DTYPES[v.dtype]) return [];
  const bin = atob(v.bdata);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new DTYPES[v.dtype](bytes.buffer);
}

// Until plotly.js is read (about a second on a first open, while the figure may already be here): the map's
// points on a plain canvas, at their places and in their colours, replaced by the real chart when it is ready.
function quickView(plot, figure) {
  const layout = figure.layout || {};
  const xr = layout.xaxis && layout.xaxis.range, yr = layout.yaxis && layout.yaxis.range;
  if (layout.scene || !xr || !yr) return;  // a 3D map, or ranges left to plotly: wait for the real chart
  const m = { l: 10, r: 10, t: 44, b: 10, ...(layout.margin || {}) };
  const w = plot.clientWidth || 600, h = parseFloat(plot.style.height) || 620;
  const canvas = document.createElement("canvas");
  canvas.className = "fse-quick";
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d");
  const pw = w - m.l - m.r, ph = h - m.t - m.b;
  const scale = Math.min(pw / (xr[1] - xr[0]), ph / (yr[1] - yr[0]));  // equal scales, as the map's axes
  const x0 = m.l + (pw - scale * (xr[1] - xr[0])) / 2, y0 = m.t + (ph - scale * (yr[1] - yr[0])) / 2;
  for (const t of figure.data || []) {
    const mk = t.marker || {};
    if (t.type === "heatmap" || typeof mk.color !== "string") continue;
    const xs = numbers(t.x), ys = numbers(t.y), r = (mk.size || 6) / 2;
    ctx.fillStyle = mk.color;
    ctx.globalAlpha = mk.opacity || 1;
    for (let i = 0; i < xs.length; i++) {
      ctx.beginPath();
      ctx.arc(x0 + (xs[i] - xr[0]) * scale, y0 + (yr[1] - ys[i]) * scale, r, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  ctx.globalAlpha = 1;
  ctx.fillStyle = "#555";
  ctx.font = "14px sans-serif";
  ctx.fillText("Loading the interactive map (hover, click, zoom)…", m.l, 24);
  plot.appendChild(canvas);
}

async function draw(component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".fse-map, .fse-preload");
  const plot = root.querySelector(".fse-plot");
  const state = (root.__fse = root.__fse || { seq: 0, mapId: null, base: 0 });
  const send = (name, value) => setTriggerValue(name, value);
  const preloadOnly = !data.map_id;  // ui.map_component.preload: plotly.js only, nothing to draw
  if (preloadOnly) {  // not a map: pages and tests looking for .fse-map / .fse-plot must not find it
    root.className = "fse-preload";
    if (plot) plot.className = "";
    root.style.display = "none";
  }
  const plotly = loadPlotly(data.plotly);
  if (!plotly) { if (!preloadOnly) send("need", { what: "plotly", map_id: data.map_id }); return; }
  if (preloadOnly) return;
  let figure = data.figure ? JSON.parse(data.figure) : FIGURES.get(data.map_id);
  if (data.figure && data.keep !== false) remember(data.map_id, figure);
  if (!figure) { send("need", { what: "figure", map_id: data.map_id }); return; }
  if (!window.Plotly && state.mapId !== data.map_id) quickView(plot, figure);
  await plotly;
  state.dims = data.dims;
  state.large = !!data.large;
  plot.style.height = (figure.layout && figure.layout.height ? figure.layout.height : 620) + "px";
  if (state.mapId !== data.map_id || (data.figure && data.keep === false)) {  // a new map, or a one-off frame
    state.base = figure.data.length;
    const config = { ...(data.config || {}), responsive: true };
    plot.querySelectorAll(".fse-quick").forEach((c) => c.remove());
    await window.Plotly.react(plot, figure.data.concat(overlayTraces(data)), figure.layout, config);
    if (!state.attached) {
      attach(state, plot, send);
      // The map follows its column's width (a window resize or a narrower layout), as st.plotly_chart does.
      new ResizeObserver(() => { if (plot._fullLayout) window.Plotly.Plots.resize(plot); }).observe(root);
      state.attached = true;
    }
    state.mapId = data.map_id;
    // Drawn whole (autorange): Python has no zoom for it unless its overlay holds a region's points.
    state.lastView = data.overlay && data.overlay.region ? null : JSON.stringify({ x: null, y: null });
  } else {
    const traces = overlayTraces(data);
    const keys = ["x", "y", "customdata", "text", "marker.color"].concat(data.dims === 3 ? ["z"] : []);
    const upd = {};
    for (const k of keys) {
      upd[k] = traces.map((t) => (k === "marker.color" ? t.marker.color : t[k]));
    }
    const idx = OVERLAYS.map((_, i) => state.base + i);
    await window.Plotly.restyle(plot, upd, idx);
  }
  const o = data.overlay || {};
  const focusNow = o.focus && o.focus.rows && o.focus.rows.length ? String(o.focus.rows[0]) : "";
  if (focusNow && focusNow !== plot.dataset.focusRow && window.Plotly.Fx) {
    window.Plotly.Fx.unhover(plot);  // the answer is in the side panel now: the hover box would cover the legend
  }
  plot.dataset.mapId = data.map_id;
  plot.dataset.focusRow = o.focus && o.focus.rows && o.focus.rows.length ? String(o.focus.rows[0]) : "";
  plot.dataset.ringRows = o.ring ? o.ring.rows.join(",") : "";
  plot.dataset.regionPoints = o.region ? String(o.region.rows.length) : "0";
  plot.dataset.selectedPoints = o.selected ? String(o.selected.rows.length) : "0";
  plot.dataset.searchRows = o.search ? o.search.rows.join(",") : "";
  delete plot.dataset.pendingRow;
}

export default function (component) {
  draw(component).catch((err) => {
    const root = component.parentElement.querySelector(".fse-map");
    if (root && root.querySelector(".fse-error")) root.querySelector(".fse-error").textContent = "The map could not be drawn: " + err;
  });
}
