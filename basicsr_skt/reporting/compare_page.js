/* The comparison page of basicsr_skt.reporting.compare_page: decodes the runs' linear HDR images (planar RGBE,
 * zlib-compressed, base64) in the browser and re-renders every panel at the chosen exposure and tone mapping.
 * No network: scene data come from <script> files beside the page (or inline), loaded when a scene is shown.
 * window.SKT is the page's API (also used by the browser tests): ready, selectScene(i), setExposure(ev),
 * setToneMap(name), pixelAt(key, x, y), errorStats(key), tableOrder(), timings. */
(function () {
  'use strict';
  const meta = JSON.parse(document.getElementById('skt-meta').textContent);
  const MU = meta.mu;
  const LOG1P_MU = Math.log1p(MU);
  const GAMMA = 1 / 2.2;
  const CACHED_SCENES = 3;
  const EXP2 = new Float64Array(256);
  for (let e = 1; e < 256; e++) EXP2[e] = Math.pow(2, e - 136);
  const state = {scene: -1, ev: 0, tm: 'mulaw', errScale: meta.errorScale, flip: 0, view: null, sort: null};
  const decoded = {};  // scene index -> {images: {key: Float32Array RGB}, errors: {key: Float32Array}, frames}
  const recent = [];  // decoded scene indices, oldest first
  const offscreen = {};  // key -> canvas holding the rendered full-resolution image
  const timings = {};
  let panels = [];
  let pending = Promise.resolve();
  window.SKT_SCENE_DATA = window.SKT_SCENE_DATA || {};

  const $ = (id) => document.getElementById(id);
  const status = (text) => { $('status').textContent = text; };

  // ---------------------------------------------------------------------------------------------- data
  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const tag = document.createElement('script');
      tag.src = src;
      tag.onload = resolve;
      tag.onerror = () => reject(new Error('cannot load ' + src + ' (the page\'s data folder must stay beside it)'));
      document.head.appendChild(tag);
    });
  }

  async function base64Bytes(b64) {
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(b64);
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }

  // base64 -> zlib -> planar RGBE bytes (R, G, B, E planes; each row stored as differences to its left neighbour).
  async function decodeImage(b64, width, height) {
    const stream = new Blob([await base64Bytes(b64)]).stream().pipeThrough(new DecompressionStream('deflate'));
    const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    if (bytes.length !== 4 * width * height) throw new Error('corrupt image data');
    for (let row = 0; row < 4 * height; row++) {
      const o = row * width;
      let acc = 0;
      for (let x = 0; x < width; x++) { acc = (acc + bytes[o + x]) & 255; bytes[o + x] = acc; }
    }
    return bytes;
  }

  function muLaw(v) {
    return Math.log1p(MU * (v < 0 ? 0 : (v > 1 ? 1 : v))) / LOG1P_MU;
  }

  // Per RGBE code (E << 8 | mantissa): a function of the channel's linear value (every value of the data has one).
  function codeTable(fn, TypedArray) {
    const table = new TypedArray(65536);
    for (let e = 1; e < 256; e++) for (let m = 0; m < 256; m++) table[(e << 8) | m] = fn(m * EXP2[e]);
    for (let m = 0; m < 256; m++) table[m] = fn(0);
    return table;
  }

  // |mu(clip(a)) - mu(clip(b))| averaged over the channels (basicsr_skt.utils.figures.error_map).
  function errorMap(a, b, n) {
    const mu = codeTable(muLaw, Float64Array);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const ea = a[3 * n + i] << 8, eb = b[3 * n + i] << 8;
      out[i] = (Math.abs(mu[ea | a[i]] - mu[eb | b[i]]) + Math.abs(mu[ea | a[n + i]] - mu[eb | b[n + i]]) +
        Math.abs(mu[ea | a[2 * n + i]] - mu[eb | b[2 * n + i]])) / 3;
    }
    return out;
  }

  async function ensureScene(index) {
    if (decoded[index]) return decoded[index];
    const scene = meta.scenes[index];
    const start = performance.now();
    if (!window.SKT_SCENE_DATA[scene.id]) await loadScript(scene.file);
    const loaded = performance.now();
    const data = window.SKT_SCENE_DATA[scene.id];
    const n = scene.width * scene.height;
    const images = {};
    const keys = Object.keys(data.images);  // decoded concurrently: the browser inflates the streams in parallel
    const planes = await Promise.all(keys.map((key) => decodeImage(data.images[key], scene.width, scene.height)));
    keys.forEach((key, i) => { images[key] = planes[i]; });
    const errors = {};
    if (images.gt) for (const run of meta.runs) errors['err:' + run] = errorMap(images['run:' + run], images.gt, n);
    decoded[index] = {images, errors, frames: data.frames};
    // keep the decoded data of the last few scenes only (a 1000 x 1500 scene of 3 runs holds ~40 MB)
    recent.push(index);
    while (recent.length > CACHED_SCENES) {
      const old = recent.findIndex((i) => i !== index && i !== state.scene);
      delete decoded[recent[old]];
      recent.splice(old, 1);
    }
    timings[scene.name] = {loadMs: loaded - start, decodeMs: performance.now() - loaded};
    delete window.SKT_SCENE_DATA[scene.id];  // keep only the decoded copy
    return decoded[index];
  }

  // ---------------------------------------------------------------------------------------------- rendering
  // Planar RGBE -> RGBA bytes at the current exposure and tone mapping.
  function toneMap(rgbe, n, out) {
    const gain = Math.pow(2, state.ev);
    if (state.tm === 'reinhard') {
      for (let i = 0; i < n; i++) {
        const f = EXP2[rgbe[3 * n + i]] * gain;
        let r = rgbe[i] * f, g = rgbe[n + i] * f, b = rgbe[2 * n + i] * f;
        const s = 1 / (1 + 0.2126 * r + 0.7152 * g + 0.0722 * b);
        r = Math.pow(Math.min(r * s, 1), GAMMA); g = Math.pow(Math.min(g * s, 1), GAMMA);
        b = Math.pow(Math.min(b * s, 1), GAMMA);
        out[4 * i] = Math.round(r * 255); out[4 * i + 1] = Math.round(g * 255); out[4 * i + 2] = Math.round(b * 255);
        out[4 * i + 3] = 255;
      }
      return;
    }
    const curve = state.tm === 'mulaw' ? muLaw : (v) => Math.pow(v < 0 ? 0 : (v > 1 ? 1 : v), GAMMA);
    const lut = codeTable((v) => Math.round(curve(v * gain) * 255), Uint8Array);
    for (let i = 0; i < n; i++) {
      const e = rgbe[3 * n + i] << 8;
      out[4 * i] = lut[e | rgbe[i]];
      out[4 * i + 1] = lut[e | rgbe[n + i]];
      out[4 * i + 2] = lut[e | rgbe[2 * n + i]];
      out[4 * i + 3] = 255;
    }
  }

  function colourize(err, n, out) {
    const cmap = meta.colormap;
    for (let i = 0; i < n; i++) {
      let k = Math.round(err[i] / state.errScale * 255);
      k = k < 0 ? 0 : (k > 255 ? 255 : k);
      out[4 * i] = cmap[k][0];
      out[4 * i + 1] = cmap[k][1];
      out[4 * i + 2] = cmap[k][2];
      out[4 * i + 3] = 255;
    }
  }

  function offscreenFor(key, scene) {
    let canvas = offscreen[key];
    if (!canvas) canvas = offscreen[key] = document.createElement('canvas');
    if (canvas.width !== scene.width || canvas.height !== scene.height) {
      canvas.width = scene.width;
      canvas.height = scene.height;
    }
    return canvas;
  }

  // Paint every layer of one kind ('images': tone-mapped; 'errors': colourized) of the current scene offscreen.
  function renderLayers(kind, paint) {
    if (state.scene < 0) return;
    const scene = meta.scenes[state.scene];
    const layers = decoded[state.scene][kind];
    const n = scene.width * scene.height;
    for (const key of Object.keys(layers)) {
      const canvas = offscreenFor(key, scene);
      const ctx = canvas.getContext('2d');
      const img = ctx.createImageData(scene.width, scene.height);
      paint(layers[key], n, img.data);
      ctx.putImageData(img, 0, 0);
    }
  }

  function renderImages() { renderLayers('images', toneMap); }

  function renderErrors() { renderLayers('errors', colourize); }

  function panelSource(panel) {
    if (panel.key !== 'flip') return panel.key;
    return 'run:' + flipRuns()[state.flip];
  }

  function flipRuns() {
    return [$('flip-a').value, $('flip-b').value];
  }

  function drawPanels() {
    if (state.scene < 0) return;
    const v = state.view;
    for (const panel of panels) {
      const ctx = panel.canvas.getContext('2d');
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = '#202020';
      ctx.fillRect(0, 0, panel.canvas.width, panel.canvas.height);
      ctx.imageSmoothingEnabled = v.s < 1;
      ctx.setTransform(v.s, 0, 0, v.s, v.x, v.y);
      ctx.drawImage(offscreen[panelSource(panel)], 0, 0);
      if (panel.key === 'flip') panel.label.textContent = 'flip: ' + flipRuns()[state.flip] + ' (F)';
    }
  }

  function fitView() {
    const scene = meta.scenes[state.scene];
    const c = panels[0].canvas;
    const s = Math.min(c.width / scene.width, c.height / scene.height);
    state.view = {s, x: (c.width - s * scene.width) / 2, y: (c.height - s * scene.height) / 2};
  }

  // ---------------------------------------------------------------------------------------------- layout
  function buildPanels(scene) {
    const grid = $('panels');
    grid.innerHTML = '';
    const defs = meta.runs.map((run) => ({key: 'run:' + run, title: run}));
    if (meta.hasGt) defs.push({key: 'gt', title: 'GT'});
    if (meta.runs.length >= 2) defs.push({key: 'flip', title: 'flip'});
    if (meta.hasGt) for (const run of meta.runs) defs.push({key: 'err:' + run, title: '|Δ| μ-law ' + run});
    const cols = Math.min(defs.length, meta.hasGt ? meta.runs.length + 1 + (meta.runs.length >= 2 ? 1 : 0) : 4);
    const width = Math.max(160, Math.floor((grid.clientWidth || window.innerWidth - 24) / cols) - 8);
    const height = Math.max(120, Math.min(Math.round(width * scene.height / scene.width), 560));
    grid.style.gridTemplateColumns = 'repeat(' + cols + ', ' + width + 'px)';
    panels = defs.map((def) => {
      const box = document.createElement('div');
      box.className = 'panel';
      const label = document.createElement('div');
      label.className = 'label';
      label.textContent = def.title;
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      canvas.dataset.key = def.key;
      box.appendChild(label);
      box.appendChild(canvas);
      grid.appendChild(box);
      attachPanZoom(canvas);
      return {key: def.key, canvas, label};
    });
  }

  let drag = null;  // last mouse position of a pan in progress

  function attachPanZoom(canvas) {
    canvas.addEventListener('mousedown', (e) => { drag = {x: e.clientX, y: e.clientY}; e.preventDefault(); });
    canvas.addEventListener('wheel', (e) => {
      e.preventDefault();
      const rect = canvas.getBoundingClientRect();
      zoomAt(e.clientX - rect.left, e.clientY - rect.top, e.deltaY < 0 ? 1.25 : 0.8);
    }, {passive: false});
    canvas.addEventListener('dblclick', () => { fitView(); drawPanels(); });
  }

  // Zoom every panel by `factor` about the panel point (px, py).
  function zoomAt(px, py, factor) {
    const v = state.view;
    v.x = px - (px - v.x) * factor;
    v.y = py - (py - v.y) * factor;
    v.s *= factor;
    drawPanels();
  }

  function panBy(dx, dy) {
    state.view.x += dx;
    state.view.y += dy;
    drawPanels();
  }

  window.addEventListener('mouseup', () => { drag = null; });
  window.addEventListener('mousemove', (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    drag = {x: e.clientX, y: e.clientY};
    panBy(dx, dy);
  });

  function showFrames(index) {
    const box = $('frames');
    box.innerHTML = '';
    const scene = meta.scenes[index];
    const data = decoded[index];
    scene.frames.forEach((frame, i) => {
      const fig = document.createElement('figure');
      if (data.frames[i]) {
        const img = document.createElement('img');
        img.src = data.frames[i];
        img.alt = frame.name;
        fig.appendChild(img);
      }
      const cap = document.createElement('figcaption');
      cap.textContent = frame.name + (frame.ev === null ? '' : ' · EV ' + frame.ev);
      fig.appendChild(cap);
      box.appendChild(fig);
    });
    $('frames-title').style.display = scene.frames.length ? '' : 'none';
  }

  // ---------------------------------------------------------------------------------------------- table
  function buildTable() {
    const table = $('metrics');
    if (!meta.metrics.length) { table.style.display = 'none'; return; }
    const head = document.createElement('tr');
    const cols = [{id: 'scene', text: 'scene'}];
    for (const m of meta.metrics) for (const run of meta.runs) cols.push({id: m + '|' + run, text: m, sub: run});
    for (const col of cols) {
      const th = document.createElement('th');
      th.dataset.col = col.id;
      th.innerHTML = col.sub ? col.text + '<br><small></small>' : col.text;
      if (col.sub) th.querySelector('small').textContent = col.sub;
      th.title = 'click to sort';
      th.addEventListener('click', () => sortBy(col.id));
      head.appendChild(th);
    }
    table.tHead.appendChild(head);
    meta.scenes.forEach((scene, i) => {
      const tr = document.createElement('tr');
      tr.dataset.scene = String(i);
      const name = document.createElement('td');
      name.textContent = scene.name;
      tr.appendChild(name);
      for (const m of meta.metrics) {
        const values = meta.runs.map((run) => (meta.table[scene.name][run] || {})[m]);
        const finite = values.filter((v) => typeof v === 'number' && isFinite(v));
        const best = finite.length ? (meta.lowerBetter.includes(m) ? Math.min(...finite) : Math.max(...finite)) : null;
        values.forEach((v) => {
          const td = document.createElement('td');
          td.textContent = typeof v === 'number' ? (isFinite(v) ? v.toFixed(4) : String(v)) : '–';
          if (v === best && finite.length > 1) td.className = 'best';
          tr.appendChild(td);
        });
      }
      tr.addEventListener('click', () => selectScene(i).then(() => $('viewer').scrollIntoView()));
      table.tBodies[0].appendChild(tr);
    });
  }

  function cellValue(tr, col) {
    if (col === 'scene') return meta.scenes[Number(tr.dataset.scene)].name;
    const [m, run] = col.split('|');
    const v = (meta.table[meta.scenes[Number(tr.dataset.scene)].name][run] || {})[m];
    return typeof v === 'number' ? v : -Infinity;
  }

  function sortBy(col) {
    const desc = state.sort && state.sort.col === col ? !state.sort.desc : col !== 'scene';
    state.sort = {col, desc};
    const body = $('metrics').tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = cellValue(a, col), y = cellValue(b, col);
      const order = x < y ? -1 : (x > y ? 1 : 0);
      return desc ? -order : order;
    });
    rows.forEach((row) => body.appendChild(row));
    for (const th of $('metrics').tHead.rows[0].cells) {
      th.classList.toggle('sorted', th.dataset.col === col);
      th.dataset.dir = th.dataset.col === col ? (desc ? 'desc' : 'asc') : '';
    }
  }

  // ---------------------------------------------------------------------------------------------- actions
  function selectScene(index) {
    pending = pending.catch(() => {}).then(async () => {  // a failed load must not block the next selection
      const start = performance.now();
      status('loading ' + meta.scenes[index].name + ' …');
      try {
        await ensureScene(index);
      } catch (err) {
        status('error: ' + err.message);
        throw err;
      }
      const drawStart = performance.now();
      const previous = state.scene >= 0 ? meta.scenes[state.scene] : null;
      const scene = meta.scenes[index];
      state.scene = index;
      $('scene').value = String(index);
      if (!previous || previous.width !== scene.width || previous.height !== scene.height || !panels.length) {
        buildPanels(scene);
        fitView();
      }
      renderImages();
      renderErrors();
      drawPanels();
      showFrames(index);
      for (const tr of $('metrics').tBodies[0].rows) tr.classList.toggle('current', Number(tr.dataset.scene) === index);
      Object.assign(timings[scene.name], {drawMs: performance.now() - drawStart, totalMs: performance.now() - start});
      status(scene.name + ': ' + scene.width + ' × ' + scene.height + ' px');
    });
    return pending;
  }

  function setExposure(ev) {
    state.ev = Number(ev);
    $('ev').value = String(ev);
    $('ev-value').textContent = (state.ev > 0 ? '+' : '') + state.ev.toFixed(1);
    renderImages();
    drawPanels();
  }

  function setToneMap(name) {
    state.tm = name;
    $('tonemap').value = name;
    renderImages();
    drawPanels();
  }

  function setErrorScale(value) {
    state.errScale = Number(value);
    renderErrors();
    drawPanels();
    drawColourBar();
  }

  function toggleFlip() {
    state.flip = 1 - state.flip;
    drawPanels();
  }

  function drawColourBar() {
    const canvas = $('colour-bar');
    const ctx = canvas.getContext('2d');
    for (let x = 0; x < canvas.width; x++) {
      const c = meta.colormap[Math.round(x / (canvas.width - 1) * 255)];
      ctx.fillStyle = 'rgb(' + c[0] + ',' + c[1] + ',' + c[2] + ')';
      ctx.fillRect(x, 0, 1, canvas.height);
    }
    $('colour-bar-max').textContent = state.errScale.toFixed(3);
  }

  // Rendered RGBA of image pixel (x, y) in the visible panel showing `key`.
  function pixelAt(key, x, y) {
    const panel = panels.find((p) => p.key === key);
    if (!panel) throw new Error('no panel ' + key);
    const v = state.view;
    const cx = Math.floor((x + 0.5) * v.s + v.x), cy = Math.floor((y + 0.5) * v.s + v.y);
    return Array.from(panel.canvas.getContext('2d').getImageData(cx, cy, 1, 1).data);
  }

  function errorStats(key) {
    const err = decoded[state.scene].errors[key];
    let max = 0, sum = 0;
    for (let i = 0; i < err.length; i++) { max = Math.max(max, err[i]); sum += err[i]; }
    return {max, mean: sum / err.length};
  }

  function init() {
    document.title = meta.title;
    $('title').textContent = meta.title;
    const select = $('scene');
    meta.scenes.forEach((scene, i) => {
      const opt = document.createElement('option');
      opt.value = String(i);
      opt.textContent = scene.name;
      select.appendChild(opt);
    });
    select.addEventListener('change', () => selectScene(Number(select.value)));
    $('prev').addEventListener('click', () => selectScene((state.scene + meta.scenes.length - 1) % meta.scenes.length));
    $('next').addEventListener('click', () => selectScene((state.scene + 1) % meta.scenes.length));
    $('ev').addEventListener('input', () => setExposure($('ev').value));
    $('tonemap').addEventListener('change', () => setToneMap($('tonemap').value));
    $('err-scale').value = String(state.errScale);
    $('err-scale').addEventListener('input', () => setErrorScale($('err-scale').value));
    for (const id of ['flip-a', 'flip-b']) {
      const sel = $(id);
      meta.runs.forEach((run) => {
        const opt = document.createElement('option');
        opt.value = run;
        opt.textContent = run;
        sel.appendChild(opt);
      });
      sel.addEventListener('change', drawPanels);
    }
    $('flip-b').value = meta.runs[Math.min(1, meta.runs.length - 1)];
    $('flip').addEventListener('click', toggleFlip);
    $('flip-controls').style.display = meta.runs.length >= 2 ? '' : 'none';
    $('error-controls').style.display = meta.hasGt ? '' : 'none';
    $('fit').addEventListener('click', () => { fitView(); drawPanels(); });
    window.addEventListener('keydown', (e) => {
      if (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT') return;
      if (e.key === 'f' || e.key === 'F') toggleFlip();
    });
    buildTable();
    drawColourBar();
    setErrorScale(state.errScale);
  }

  const openStart = performance.now();
  window.SKT = {
    meta, state, timings, selectScene, setExposure, setToneMap, setErrorScale, toggleFlip, pixelAt, errorStats,
    tableOrder: () => Array.from($('metrics').tBodies[0].rows).map((tr) => meta.scenes[Number(tr.dataset.scene)].name),
    idle: () => pending,
  };
  init();
  window.SKT.ready = selectScene(0).then(() => {
    timings.firstSceneMs = performance.now() - openStart;
    timings.sinceNavigationMs = performance.now();
  }, (err) => { status('error: ' + err.message); throw err; });
})();
