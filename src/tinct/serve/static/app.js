// tinct serve: the page's behaviour. Plain JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    body: document.body,
    drop: $("drop"), choose: $("choose"), file: $("file"), limitMb: $("limit-mb"),
    error: $("error"), workspace: $("workspace"), modelStatus: $("model-status"),
    compare: $("compare"), before: $("before"), after: $("after"), markers: $("markers"),
    divider: $("divider"), busy: $("busy"), info: $("info"),
    vividness: $("vividness"), vividnessValue: $("vividness-value"),
    format: $("format"), download: $("download"),
    hintMode: $("hint-mode"), hintColor: $("hint-color"), hintList: $("hint-list"),
    hintClear: $("hint-clear"), hintHelp: $("hint-help"), another: $("another"),
    refBox: $("reference-box"), refChoose: $("reference-choose"), refRemove: $("reference-remove"),
    refFile: $("reference-file"), refName: $("reference-name"), refThumb: $("reference-thumb"),
    refOverlay: $("reference-overlay"), refMap: $("reference-map"),
    viewer: $("viewer"), zoom: $("zoom"), cursor: $("cursor"), zoomIn: $("zoom-in"), zoomOut: $("zoom-out"),
    zoomFit: $("zoom-fit"), zoomLevel: $("zoom-level"), fullscreen: $("fullscreen"),
    examples: $("examples"), exampleList: $("example-list"),
    gallery: $("gallery"), galleryList: $("gallery-list"), galleryStatus: $("gallery-status"),
    downloadAll: $("download-all"),
  };

  const RERUN_DELAY_MS = 350; // debounce for the vividness slider and hint edits

  const state = {
    health: null,
    file: null,          // the File being colorized
    haveResult: false,   // a colorization of the current file has succeeded
    originalUrl: null,   // object URL of the uploaded file (the "before" side)
    resultUrl: null,     // object URL of the latest result (the "after" side)
    controller: null,    // AbortController of the request in flight
    seq: 0,              // increases per request; stale answers are ignored
    timer: null,
    divider: 50,         // percent of the width shown as "before"
    hintMode: false,
    hints: [],           // [{x, y, color}] in image pixels
    size: null,          // {width, height} of the image in pixels (as displayed, EXIF applied)
    reference: null,     // the File of the reference photo, sent with every colorization
    referenceUrl: null,  // its object URL (the thumbnail)
    cursor: { fx: 0.5, fy: 0.5 }, // the keyboard's hint cross, as fractions of the photo's width and height
  };
  const view = { z: 1, x: 0, y: 0 }; // zoom factor and pan (px) of the photo pair inside #compare
  const MAX_ZOOM = 8;

  // ------------------------------------------------------------------ server info

  async function loadHealth() {
    try {
      const response = await fetch("api/health", { cache: "no-store" });
      if (!response.ok) throw new Error(`${response.status}`);
      const h = await response.json();
      state.health = h;
      // Plain words for the status line; the technical names stay in the tooltip.
      const name = h.model === "default" ? "the built-in default" : h.model;
      el.modelStatus.textContent = `Model: ${name} · ${h.hints ? "takes color hints" : "no color hints"}`;
      el.modelStatus.title = `${h.architecture} network, ${h.head} head · tinct ${h.version}`;
      el.limitMb.textContent = formatMb(h.max_upload_bytes);
      if (typeof h.default_vividness === "number") {
        el.vividness.value = String(h.default_vividness);
        showVividness();
      }
      el.hintMode.disabled = !h.hints;
      el.hintColor.disabled = !h.hints;
      if (!h.hints) el.hintHelp.textContent = "This model does not take color hints.";
    } catch (err) {
      el.modelStatus.textContent = "The server is not answering; reload the page once it runs.";
    }
  }

  async function loadExamples() {
    try {
      const response = await fetch("api/examples", { cache: "no-store" });
      if (!response.ok) return;
      const { examples } = await response.json();
      if (!examples || !examples.length) return;
      el.exampleList.replaceChildren(...examples.map((example) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "example";
        button.setAttribute("aria-label", `Try the example photo ${example.name}`);
        const img = document.createElement("img");
        img.src = example.url;
        img.alt = "";
        button.append(img);
        button.addEventListener("click", async () => {
          try {
            const got = await fetch(example.url);
            if (!got.ok) throw new Error(`${example.name}: ${got.status}`);
            setFiles([new File([await got.blob()], example.name, { type: got.headers.get("Content-Type") || "image/jpeg" })]);
          } catch (err) {
            showError(`Could not load the example: ${err.message || err}`);
          }
        });
        return button;
      }));
      el.examples.hidden = false;
    } catch (_) { /* an older server without examples: the page works without them */ }
  }

  function formatMb(bytes) {
    const mb = bytes / (1024 * 1024);
    return Number.isInteger(mb) ? String(mb) : mb.toFixed(1);
  }

  // ------------------------------------------------------------------ errors and busy state

  function showError(message) {
    el.error.textContent = message;
    el.error.hidden = false;
  }

  function hideError() {
    el.error.hidden = true;
    el.error.textContent = "";
  }

  function setBusy(busy) {
    el.busy.hidden = !busy;
    el.compare.setAttribute("aria-busy", busy ? "true" : "false");
    if (busy) el.body.dataset.state = "busy";
  }

  async function errorMessage(response) {
    let detail = "";
    try {
      const data = await response.json();
      if (typeof data.detail === "string") detail = data.detail;
      else if (data.detail) detail = JSON.stringify(data.detail);
    } catch (_) { /* not JSON: fall back to the status line */ }
    if (!detail) detail = `${response.status} ${response.statusText || "error"}`.trim();
    if (response.status === 503) {
      const wait = response.headers.get("Retry-After");
      if (wait) detail += ` (retry in ${wait} s)`;
    }
    return detail;
  }

  // ------------------------------------------------------------------ choosing a file

  // ------------------------------------------------------------------ videos (a job: upload, poll, play)

  const VIDEO_SUFFIX = /\.(mp4|m4v|mov|mkv|avi|webm)$/i;
  const POLL_MS = 500;
  const video = {
    workspace: $("video-workspace"), label: $("video-label"), progress: $("video-progress"),
    before: $("video-before"), after: $("video-after"), download: $("video-download"),
    another: $("video-another"), seq: 0, url: null,
  };
  video.another.addEventListener("click", () => el.file.click());

  function isVideo(file) {
    return (file.type && file.type.startsWith("video/")) || VIDEO_SUFFIX.test(file.name || "");
  }

  async function colorizeVideo(file) {
    const seq = ++video.seq;
    el.workspace.hidden = true;
    video.workspace.hidden = false;
    el.drop.hidden = true;
    resetGallery();
    pauseBoth();
    enablePlayer(false);
    el.body.dataset.state = "busy";
    if (video.url) URL.revokeObjectURL(video.url);
    video.url = URL.createObjectURL(file);
    video.before.src = video.url;
    video.after.removeAttribute("src");
    video.after.load();
    video.download.setAttribute("aria-disabled", "true");
    video.download.href = "#";
    video.label.textContent = `Uploading ${file.name}…`;
    video.progress.removeAttribute("value");
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("vividness", el.vividness.value);
    let job;
    try {
      const response = await fetch("api/video", { method: "POST", body: form });
      if (!response.ok) throw new Error(await errorMessage(response));
      job = await response.json();
    } catch (err) {
      return videoFailed(seq, err.message || String(err));
    }
    while (seq === video.seq) {
      let state;
      try {
        const response = await fetch(`api/video/${job.id}`, { cache: "no-store" });
        if (!response.ok) throw new Error(await errorMessage(response));
        state = await response.json();
      } catch (err) {
        return videoFailed(seq, err.message || String(err));
      }
      if (seq !== video.seq) return;
      if (state.status === "failed") return videoFailed(seq, state.error || "the video could not be colorized");
      if (state.status === "done") {
        const url = `api/video/${job.id}/result`;
        video.progress.value = 1;
        video.label.textContent = `${file.name}: ${state.done} frames colorized in ${state.seconds} s`;
        video.after.src = url;
        video.download.href = url;
        video.download.setAttribute("download", `${file.name.replace(/\.[^.]*$/, "")}-colorized.mp4`);
        video.download.setAttribute("aria-disabled", "false");
        el.body.dataset.state = "done";
        // Play both together, from one set of controls: the pair shows what changed and what did not.
        video.after.addEventListener("canplay", () => {
          enablePlayer(true);
          video.after.currentTime = 0;
          playBoth();
        }, { once: true });
        return;
      }
      if (typeof state.progress === "number") video.progress.value = state.progress;
      const total = state.total ? ` of ${state.total}` : "";
      video.label.textContent = state.status === "queued"
        ? `${file.name}: waiting for the server…`
        : `${file.name}: frame ${state.done}${total}`;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  // One set of controls for both videos. The colorized one leads (it has the sound); the original
  // follows its play, pause and position, and is pulled back into step when it drifts.
  const player = {
    play: $("video-play"), seek: $("video-seek"), time: $("video-time"), sound: $("video-sound"), seeking: false,
  };
  const DRIFT_S = 0.15;

  function enablePlayer(on) {
    for (const control of [player.play, player.seek, player.sound]) control.disabled = !on;
  }

  async function playBoth() {
    video.before.currentTime = video.after.currentTime;
    try {
      await video.after.play();
    } catch (_) {
      // The browser refused to start sound without a click: play muted, and say so on the button.
      video.after.muted = true;
      showSound();
      await video.after.play().catch(() => {});
    }
    video.before.play().catch(() => {});
  }

  function pauseBoth() {
    video.after.pause();
    video.before.pause();
  }

  function clock(seconds) {
    if (!Number.isFinite(seconds)) seconds = 0;
    const s = Math.floor(seconds);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function showSound() {
    player.sound.setAttribute("aria-pressed", video.after.muted ? "false" : "true");
    player.sound.textContent = video.after.muted ? "Sound off" : "Sound on";
  }

  player.play.addEventListener("click", () => (video.after.paused ? playBoth() : pauseBoth()));
  for (const clip of [video.before, video.after]) {
    clip.addEventListener("click", () => (video.after.paused ? playBoth() : pauseBoth()));
  }
  player.sound.addEventListener("click", () => { video.after.muted = !video.after.muted; showSound(); });
  video.after.addEventListener("play", () => { player.play.textContent = "Pause"; video.before.play().catch(() => {}); });
  video.after.addEventListener("pause", () => { player.play.textContent = "Play"; video.before.pause(); });
  video.after.addEventListener("timeupdate", () => {
    const duration = video.after.duration || 0;
    const t = video.after.currentTime;
    if (!player.seeking && duration) player.seek.value = String(Math.round((t / duration) * 1000));
    player.time.textContent = `${clock(t)} / ${clock(duration)}`;
    if (Math.abs(video.before.currentTime - t) > DRIFT_S) video.before.currentTime = t;
  });
  player.seek.addEventListener("pointerdown", () => { player.seeking = true; });
  player.seek.addEventListener("change", () => { player.seeking = false; });
  player.seek.addEventListener("input", () => {
    const t = (Number(player.seek.value) / 1000) * (video.after.duration || 0);
    video.after.currentTime = t;
    video.before.currentTime = t;
  });
  showSound();

  function videoFailed(seq, message) {
    if (seq !== video.seq) return;
    video.label.textContent = "Failed";
    video.progress.value = 0;
    showError(message);
    el.body.dataset.state = "error";
  }

  // Several photos: each is colorized in turn (one request at a time, with the current vividness and
  // format), shown as a thumbnail, and all of them download together as one ZIP.
  const gallery = { items: [], seq: 0, running: null, current: null };

  function resetGallery() {
    gallery.seq++;
    for (const item of gallery.items) if (item.url) URL.revokeObjectURL(item.url);
    gallery.items = [];
    gallery.current = null;
    el.galleryList.replaceChildren();
    el.gallery.hidden = true;
  }

  function startGallery(files) {
    resetGallery();
    gallery.items = files.map((file) => ({ file, status: "waiting", blob: null, url: null, name: null, error: null }));
    el.gallery.hidden = false;
    renderGallery();
    runGallery();
  }

  function restartGallery() {
    // The settings changed: every photo is made again with the new ones (downloads match the viewer).
    if (!gallery.items.length) return;
    for (const item of gallery.items) item.status = "waiting";
    renderGallery();
    runGallery();
  }

  async function runGallery() {
    const seq = gallery.seq;
    if (gallery.running === seq) return;
    gallery.running = seq;
    try {
      for (;;) {
        if (seq !== gallery.seq) return;
        const item = gallery.items.find((it) => it.status === "waiting");
        if (!item) return;
        item.status = "working";
        renderGallery();
        const format = el.format.value;
        const form = new FormData();
        form.append("file", item.file, item.file.name || "photo");
        form.append("vividness", el.vividness.value);
        form.append("format", format);
        try {
          const response = await fetch("api/colorize", { method: "POST", body: form });
          if (!response.ok) throw new Error(await errorMessage(response));
          const blob = await response.blob();
          if (seq !== gallery.seq) return;
          if (item.url) URL.revokeObjectURL(item.url);
          item.blob = blob;
          item.url = URL.createObjectURL(blob);
          item.name = resultName(item.file, response, format);
          item.error = null;
          if (item.status === "working") item.status = "done"; // "waiting" again if the settings changed meanwhile
        } catch (err) {
          if (seq !== gallery.seq) return;
          item.error = err instanceof TypeError ? "Could not reach the server." : String(err.message || err);
          if (item.status === "working") item.status = "failed";
        }
        renderGallery();
      }
    } finally {
      if (gallery.running === seq) gallery.running = null;
    }
  }

  function renderGallery() {
    const items = gallery.items;
    el.galleryList.replaceChildren(...items.map((item, index) => {
      const li = document.createElement("li");
      li.className = "gallery-item";
      li.dataset.status = item.status;
      const button = document.createElement("button");
      button.type = "button";
      button.setAttribute("aria-current", gallery.current === index ? "true" : "false");
      const img = document.createElement("img");
      img.alt = "";
      if (item.url) img.src = item.url;
      const caption = document.createElement("span");
      caption.className = "caption";
      const what = { waiting: "waiting", working: "colorizing…", done: "done", failed: `failed: ${item.error}` };
      caption.textContent = `${item.file.name} · ${what[item.status]}`;
      button.append(img, caption);
      button.addEventListener("click", () => {
        gallery.current = index;
        setFile(item.file, { keepGallery: true });
        renderGallery();
      });
      li.append(button);
      return li;
    }));
    const done = items.filter((it) => it.status === "done").length;
    const failed = items.filter((it) => it.status === "failed").length;
    const finished = done + failed === items.length;
    el.galleryStatus.textContent = `${done} of ${items.length} colorized` + (failed ? `, ${failed} failed` : "");
    el.downloadAll.disabled = !(finished && done > 0);
    el.body.dataset.gallery = items.length ? (finished ? "done" : "busy") : "";
  }

  // A ZIP without compression (photos are compressed already): local headers, a central directory, an end record.
  const CRC_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();

  function crc32(bytes) {
    let c = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  async function zipFiles(entries) {
    const encoder = new TextEncoder();
    const parts = [];
    const central = [];
    let offset = 0;
    for (const { name, blob } of entries) {
      const data = new Uint8Array(await blob.arrayBuffer());
      const nameBytes = encoder.encode(name);
      const crc = crc32(data);
      const local = new DataView(new ArrayBuffer(30));
      local.setUint32(0, 0x04034b50, true);
      local.setUint16(4, 20, true);
      local.setUint16(6, 0x0800, true); // names in UTF-8
      local.setUint16(12, 0x21, true);  // 1980-01-01
      local.setUint32(14, crc, true);
      local.setUint32(18, data.length, true);
      local.setUint32(22, data.length, true);
      local.setUint16(26, nameBytes.length, true);
      parts.push(local.buffer, nameBytes, data);
      const entry = new DataView(new ArrayBuffer(46));
      entry.setUint32(0, 0x02014b50, true);
      entry.setUint16(4, 20, true);
      entry.setUint16(6, 20, true);
      entry.setUint16(8, 0x0800, true);
      entry.setUint16(14, 0x21, true);
      entry.setUint32(16, crc, true);
      entry.setUint32(20, data.length, true);
      entry.setUint32(24, data.length, true);
      entry.setUint16(28, nameBytes.length, true);
      entry.setUint32(42, offset, true);
      central.push(entry.buffer, nameBytes);
      offset += 30 + nameBytes.length + data.length;
    }
    const size = central.reduce((n, part) => n + part.byteLength, 0);
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true);
    end.setUint16(8, entries.length, true);
    end.setUint16(10, entries.length, true);
    end.setUint32(12, size, true);
    end.setUint32(16, offset, true);
    return new Blob([...parts, ...central, end.buffer], { type: "application/zip" });
  }

  el.downloadAll.addEventListener("click", async () => {
    const used = new Set();
    const entries = [];
    for (const item of gallery.items) {
      if (item.status !== "done") continue;
      let name = item.name;
      for (let k = 2; used.has(name); k++) name = item.name.replace(/(\.[^.]*)?$/, ` (${k})$1`);
      used.add(name);
      entries.push({ name, blob: item.blob });
    }
    const url = URL.createObjectURL(await zipFiles(entries));
    const link = document.createElement("a");
    link.href = url;
    link.download = "tinct-colorized.zip";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  });

  function setFiles(list) {
    const files = Array.from(list || []).filter(Boolean);
    if (!files.length) return;
    const photos = files.filter((file) => !isVideo(file));
    if (!photos.length) {
      setFile(files[0]); // a video: one at a time
      return;
    }
    if (photos.length === 1) {
      resetGallery();
      setFile(photos[0]);
    } else {
      startGallery(photos);
      gallery.current = 0;
      setFile(photos[0], { keepGallery: true });
      renderGallery();
    }
    if (photos.length < files.length) showError("Videos are colorized one at a time: drop a video on its own.");
  }

  function setFile(file, { keepGallery = false } = {}) {
    if (!file) return;
    hideError();
    if (!keepGallery && !isVideo(file)) resetGallery();
    if (isVideo(file)) {
      const limit = state.health && state.health.max_upload_bytes;
      if (limit && file.size > limit) {
        showError(`${file.name}: ${formatMb(file.size)} MB is larger than this server accepts (${formatMb(limit)} MB).`);
        el.body.dataset.state = "error";
        return;
      }
      colorizeVideo(file);
      return;
    }
    video.seq++; // a photo replaces any video being followed
    video.workspace.hidden = true;
    const limit = state.health && state.health.max_upload_bytes;
    if (limit && file.size > limit) {
      showError(`${file.name}: ${formatMb(file.size)} MB is larger than this server accepts (${formatMb(limit)} MB).`);
      el.body.dataset.state = "error";
      return;
    }
    state.file = file;
    state.haveResult = false;
    state.hints = [];
    state.size = null;
    renderHints();
    if (state.originalUrl) URL.revokeObjectURL(state.originalUrl);
    state.originalUrl = URL.createObjectURL(file);
    el.before.classList.remove("fallback");
    el.before.src = state.originalUrl;
    el.after.removeAttribute("src");
    el.after.hidden = true;
    setDownload(null);
    el.info.textContent = file.name;
    el.workspace.hidden = false;
    el.drop.hidden = true; // the photo takes its place; "Colorize other photos" and dropping anywhere still work
    resetView();
    colorize();
  }

  el.choose.addEventListener("click", () => el.file.click());
  el.file.addEventListener("change", () => {
    if (el.file.files && el.file.files.length) setFiles(el.file.files);
    el.file.value = ""; // choosing the same file again still fires "change"
  });
  el.another.addEventListener("click", () => el.file.click());

  for (const type of ["dragenter", "dragover"]) {
    el.drop.addEventListener(type, (event) => {
      event.preventDefault();
      el.drop.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    el.drop.addEventListener(type, () => el.drop.classList.remove("over"));
  }
  el.drop.addEventListener("drop", (event) => {
    event.preventDefault();
    event.stopPropagation(); // handled here, not again by the window's listener
    if (event.dataTransfer) setFiles(event.dataTransfer.files);
  });
  // A photo dropped anywhere else must not make the browser navigate away to it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer) setFiles(event.dataTransfer.files);
  });
  window.addEventListener("paste", (event) => {
    if (event.clipboardData && event.clipboardData.files.length) setFiles(event.clipboardData.files);
  });

  // The browser may not display some formats the server reads (TIFF): show the result in gray.
  el.before.addEventListener("error", () => {
    if (state.resultUrl && el.before.src !== state.resultUrl) {
      el.before.classList.add("fallback");
      el.before.src = state.resultUrl;
    }
  });
  el.before.addEventListener("load", () => {
    if (!state.size && el.before.naturalWidth) {
      state.size = { width: el.before.naturalWidth, height: el.before.naturalHeight };
    }
  });

  // ------------------------------------------------------------------ colorizing

  function schedule(delay = RERUN_DELAY_MS) {
    clearTimeout(state.timer);
    state.timer = setTimeout(colorize, delay);
  }

  async function colorize() {
    clearTimeout(state.timer);
    if (!state.file) return;
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    const seq = ++state.seq;
    const file = state.file;

    const form = new FormData();
    form.append("file", file, file.name || "photo");
    form.append("vividness", el.vividness.value);
    form.append("format", el.format.value);
    if (state.hints.length) {
      form.append("hints", JSON.stringify(state.hints.map(({ x, y, color }) => ({ x, y, color }))));
    }
    if (state.reference) form.append("reference", state.reference, state.reference.name || "reference");

    setBusy(true);
    hideError();
    try {
      const response = await fetch("api/colorize", { method: "POST", body: form, signal: controller.signal });
      if (!response.ok) throw new Error(await errorMessage(response));
      const blob = await response.blob();
      if (seq !== state.seq) return;
      const url = URL.createObjectURL(blob);
      await loadImage(el.after, url);
      if (seq !== state.seq) { URL.revokeObjectURL(url); return; }
      if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
      state.resultUrl = url;
      el.after.hidden = false;
      state.haveResult = true;
      state.size = { width: el.after.naturalWidth, height: el.after.naturalHeight };
      if (!el.before.naturalWidth || el.before.classList.contains("fallback")) {
        el.before.classList.add("fallback");
        el.before.src = url;
      }
      setDownload(url, response);
      const seconds = response.headers.get("X-Tinct-Seconds");
      const coverage = showReferenceMap(response);
      el.info.textContent = `${file.name} · ${state.size.width}×${state.size.height} px` +
        (seconds ? ` · ${Number(seconds).toFixed(2)} s` : "") +
        (coverage !== null ? ` · ${Math.round(coverage * 100)}% colored from the reference` : "");
      renderHints();
      setBusy(false);
      el.body.dataset.state = "done";
    } catch (err) {
      if (seq !== state.seq || (err && err.name === "AbortError")) return;
      const message = err instanceof TypeError ? "Could not reach the server." : String(err.message || err);
      showError(message);
      setBusy(false);
      el.body.dataset.state = "error";
      if (!state.haveResult) {
        // Nothing to show for this file (e.g. not an image): back to choosing one.
        state.file = null;
        el.workspace.hidden = true;
        el.drop.hidden = false;
      }
    } finally {
      if (seq === state.seq) {
        setBusy(false);
        state.controller = null;
      }
    }
  }

  // ------------------------------------------------------------------ reference photo

  // The server's map of where the reference's colors were used (a small gray PNG as a data URL);
  // returns the share of the photo they cover, or null without a reference.
  function showReferenceMap(response) {
    const map = response.headers.get("X-Tinct-Reference-Map");
    const coverage = response.headers.get("X-Tinct-Reference-Coverage");
    if (!map || !map.startsWith("data:image/png;base64,")) {
      el.refMap.removeAttribute("src");
      el.refMap.hidden = true;
      el.refOverlay.disabled = true;
      return null;
    }
    el.refMap.src = map;
    el.refOverlay.disabled = false;
    el.refMap.hidden = !el.refOverlay.checked;
    return coverage === null ? null : Number(coverage);
  }

  function setReference(file) {
    if (file) {
      const limit = state.health && state.health.max_upload_bytes;
      if (limit && file.size > limit) {
        showError(`reference ${file.name}: ${formatMb(file.size)} MB is larger than this server accepts (${formatMb(limit)} MB).`);
        return;
      }
    }
    hideError();
    state.reference = file || null;
    if (state.referenceUrl) URL.revokeObjectURL(state.referenceUrl);
    state.referenceUrl = file ? URL.createObjectURL(file) : null;
    el.refName.textContent = file ? file.name : "";
    el.refThumb.hidden = !file;
    if (file) el.refThumb.src = state.referenceUrl; else el.refThumb.removeAttribute("src");
    el.refRemove.hidden = !file;
    if (state.file) schedule(0);
  }

  el.refChoose.addEventListener("click", () => el.refFile.click());
  el.refFile.addEventListener("change", () => {
    if (el.refFile.files && el.refFile.files[0]) setReference(el.refFile.files[0]);
    el.refFile.value = "";
  });
  el.refRemove.addEventListener("click", () => setReference(null));
  el.refOverlay.addEventListener("change", () => {
    el.refMap.hidden = !el.refOverlay.checked || !el.refMap.getAttribute("src");
  });
  for (const type of ["dragenter", "dragover"]) {
    el.refBox.addEventListener(type, (event) => {
      event.preventDefault();
      event.stopPropagation(); // not the photo's drop target
      el.refBox.classList.add("over");
    });
  }
  el.refBox.addEventListener("dragleave", () => el.refBox.classList.remove("over"));
  el.refBox.addEventListener("drop", (event) => {
    event.preventDefault();
    event.stopPropagation(); // a reference dropped here does not replace the photo
    el.refBox.classList.remove("over");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) setReference(file);
  });

  function loadImage(img, url) {
    return new Promise((resolve, reject) => {
      img.onload = () => { img.onload = img.onerror = null; resolve(); };
      img.onerror = () => { img.onload = img.onerror = null; reject(new Error("The result could not be displayed.")); };
      img.src = url;
    });
  }

  function resultName(file, response, format) {
    const ext = { png: "png", jpeg: "jpg", webp: "webp" }[format] || "png";
    const disposition = response && response.headers.get("Content-Disposition");
    const match = disposition && /filename="([^"]+)"/.exec(disposition);
    return match ? match[1] : `${(file.name || "photo").replace(/\.[^.]*$/, "")}-colorized.${ext}`;
  }

  function setDownload(url, response) {
    if (!url) {
      el.download.removeAttribute("href");
      el.download.setAttribute("aria-disabled", "true");
      return;
    }
    el.download.href = url;
    el.download.download = resultName(state.file, response, el.format.value);
    el.download.setAttribute("aria-disabled", "false");
  }

  el.download.addEventListener("click", (event) => {
    if (el.download.getAttribute("aria-disabled") === "true") event.preventDefault();
  });

  function showVividness() {
    el.vividnessValue.textContent = Number(el.vividness.value).toFixed(2);
  }
  el.vividness.addEventListener("input", () => { showVividness(); schedule(); });
  el.vividness.addEventListener("change", restartGallery);
  el.format.addEventListener("change", () => { schedule(0); restartGallery(); });

  // ------------------------------------------------------------------ before / after divider

  function setDivider(percent) {
    state.divider = Math.min(100, Math.max(0, percent));
    const p = state.divider;
    // The divider stays where it is on the screen; the colorized photo is cut at the same place of
    // the zoomed and panned pair, in the photo's own (unzoomed) coordinates.
    const width = el.compare.clientWidth || 1;
    const cut = Math.min(100, Math.max(0, ((((p / 100) * width) - view.x) / view.z / width) * 100));
    el.after.style.clipPath = `inset(0 0 0 ${cut}%)`;
    el.divider.style.left = `${p}%`;
    el.divider.setAttribute("aria-valuenow", String(Math.round(p)));
  }

  // ------------------------------------------------------------------ zoom, pan, full screen

  function applyView() {
    const w = el.compare.clientWidth;
    const h = el.compare.clientHeight;
    view.z = Math.min(MAX_ZOOM, Math.max(1, view.z));
    view.x = Math.min(0, Math.max(w - w * view.z, view.x));
    view.y = Math.min(0, Math.max(h - h * view.z, view.y));
    el.zoom.style.transform = view.z === 1 ? "" : `translate(${view.x}px, ${view.y}px) scale(${view.z})`;
    el.compare.dataset.zoomed = view.z > 1 ? "true" : "false";
    el.zoomLevel.textContent = `${Math.round(view.z * 100)}%`;
    setDivider(state.divider);
  }

  function zoomAt(factor, cx, cy) {
    // Keep the point (cx, cy) of #compare, in px, over the same spot of the photo.
    const z = Math.min(MAX_ZOOM, Math.max(1, view.z * factor));
    view.x = cx - ((cx - view.x) * z) / view.z;
    view.y = cy - ((cy - view.y) * z) / view.z;
    view.z = z;
    applyView();
  }

  function zoomCenter(factor) {
    zoomAt(factor, el.compare.clientWidth / 2, el.compare.clientHeight / 2);
  }

  function resetView() {
    view.z = 1;
    view.x = 0;
    view.y = 0;
    applyView();
  }

  el.zoomIn.addEventListener("click", () => zoomCenter(1.5));
  el.zoomOut.addEventListener("click", () => zoomCenter(1 / 1.5));
  el.zoomFit.addEventListener("click", resetView);
  // The wheel zooms with Ctrl (and a trackpad's pinch), or once zoomed in; otherwise it scrolls the page.
  el.compare.addEventListener("wheel", (event) => {
    if (!state.file || !(event.ctrlKey || view.z > 1)) return;
    event.preventDefault();
    const rect = el.compare.getBoundingClientRect();
    zoomAt(event.deltaY < 0 ? 1.25 : 0.8, event.clientX - rect.left, event.clientY - rect.top);
  }, { passive: false });

  if (!document.fullscreenEnabled) el.fullscreen.hidden = true;
  el.fullscreen.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else el.viewer.requestFullscreen().catch((err) => showError(`Full screen is not available: ${err.message || err}`));
  });
  document.addEventListener("fullscreenchange", () => {
    const on = document.fullscreenElement === el.viewer;
    el.fullscreen.setAttribute("aria-pressed", on ? "true" : "false");
    el.fullscreen.textContent = on ? "Exit full screen" : "Full screen";
    requestAnimationFrame(applyView); // the photo's size on the screen changed
  });
  window.addEventListener("resize", () => applyView());

  function percentAt(event) {
    const rect = el.compare.getBoundingClientRect();
    return ((event.clientX - rect.left) / rect.width) * 100;
  }

  let dragging = null; // {pointerId, moved, startX, startY}

  el.compare.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    const onHandle = event.target === el.divider || el.divider.contains(event.target);
    if (state.hintMode && !onHandle) {
      dragging = { pointerId: event.pointerId, hint: true, startX: event.clientX, startY: event.clientY };
      return;
    }
    if (view.z > 1 && !onHandle) {
      // Zoomed in: a drag pans the photo (the divider keeps its own handle).
      dragging = { pointerId: event.pointerId, pan: true, lastX: event.clientX, lastY: event.clientY };
      el.compare.setPointerCapture(event.pointerId);
      event.preventDefault();
      return;
    }
    dragging = { pointerId: event.pointerId, hint: false };
    el.compare.setPointerCapture(event.pointerId);
    setDivider(percentAt(event));
    event.preventDefault();
  });
  el.compare.addEventListener("pointermove", (event) => {
    if (!dragging || dragging.hint || event.pointerId !== dragging.pointerId) return;
    if (dragging.pan) {
      view.x += event.clientX - dragging.lastX;
      view.y += event.clientY - dragging.lastY;
      dragging.lastX = event.clientX;
      dragging.lastY = event.clientY;
      applyView();
      return;
    }
    setDivider(percentAt(event));
  });
  el.compare.addEventListener("pointerup", (event) => {
    if (!dragging || event.pointerId !== dragging.pointerId) return;
    const wasHint = dragging.hint;
    const moved = wasHint && Math.hypot(event.clientX - dragging.startX, event.clientY - dragging.startY) > 8;
    dragging = null;
    if (wasHint && !moved) addHintAt(event);
  });
  el.compare.addEventListener("pointercancel", () => { dragging = null; });

  el.divider.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? 10 : 2;
    const moves = { ArrowLeft: -step, ArrowDown: -step, ArrowRight: step, ArrowUp: step };
    if (event.key in moves) setDivider(state.divider + moves[event.key]);
    else if (event.key === "Home") setDivider(0);
    else if (event.key === "End") setDivider(100);
    else return;
    event.preventDefault();
  });

  // ------------------------------------------------------------------ color hints

  function imageSize() {
    if (state.size) return state.size;
    const img = el.after.naturalWidth ? el.after : el.before;
    return img.naturalWidth ? { width: img.naturalWidth, height: img.naturalHeight } : null;
  }

  function addHintAt(event) {
    // The photo's box on the screen, zoom and pan included.
    const rect = el.zoom.getBoundingClientRect();
    addHint((event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height);
  }

  function addHint(fx, fy) {
    const size = imageSize();
    if (!size || !state.file) return;
    if (fx < 0 || fx >= 1 || fy < 0 || fy >= 1) return;
    const x = Math.min(size.width - 1, Math.floor(fx * size.width));
    const y = Math.min(size.height - 1, Math.floor(fy * size.height));
    state.hints.push({ x, y, color: el.hintColor.value.toLowerCase() });
    renderHints();
    schedule(150);
  }

  function renderCursor() {
    const show = state.hintMode && document.activeElement === el.compare && Boolean(imageSize());
    el.cursor.hidden = !show;
    el.cursor.style.left = `${state.cursor.fx * 100}%`;
    el.cursor.style.top = `${state.cursor.fy * 100}%`;
  }

  // Keyboard: + / - / 0 zoom; arrows pan when zoomed, or move the hint cross in hint mode, where
  // Enter (or Space) puts a hint under it and Escape leaves hint mode.
  el.compare.addEventListener("keydown", (event) => {
    if (event.target !== el.compare || !state.file) return;
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (event.key === "+" || event.key === "=") zoomCenter(1.5);
    else if (event.key === "-") zoomCenter(1 / 1.5);
    else if (event.key === "0") resetView();
    else if (state.hintMode && event.key in arrows) {
      const step = event.shiftKey ? 0.05 : 0.01;
      const [dx, dy] = arrows[event.key];
      state.cursor.fx = Math.min(0.999, Math.max(0, state.cursor.fx + dx * step));
      state.cursor.fy = Math.min(0.999, Math.max(0, state.cursor.fy + dy * step));
      renderCursor();
    } else if (state.hintMode && (event.key === "Enter" || event.key === " ")) {
      addHint(state.cursor.fx, state.cursor.fy);
    } else if (state.hintMode && event.key === "Escape") {
      setHintMode(false);
    } else if (view.z > 1 && event.key in arrows) {
      const [dx, dy] = arrows[event.key];
      view.x -= dx * 40;
      view.y -= dy * 40;
      applyView();
    } else return;
    event.preventDefault();
  });
  el.compare.addEventListener("focus", renderCursor);
  el.compare.addEventListener("blur", renderCursor);

  function setHintMode(on) {
    state.hintMode = on;
    el.hintMode.setAttribute("aria-pressed", on ? "true" : "false");
    el.hintMode.textContent = on ? "Done adding hints" : "Add hints";
    el.compare.dataset.mode = on ? "hints" : "compare";
    renderCursor();
  }
  el.hintMode.addEventListener("click", () => setHintMode(!state.hintMode));

  function renderHints() {
    const size = imageSize();
    el.markers.replaceChildren();
    el.hintList.replaceChildren();
    state.hints.forEach((hint, index) => {
      if (size) {
        const marker = document.createElement("span");
        marker.className = "marker";
        marker.style.left = `${((hint.x + 0.5) / size.width) * 100}%`;
        marker.style.top = `${((hint.y + 0.5) / size.height) * 100}%`;
        marker.style.backgroundColor = hint.color;
        marker.title = `hint ${index + 1}: ${hint.color} at ${hint.x}, ${hint.y}`;
        el.markers.append(marker);
      }
      const item = document.createElement("li");
      item.className = "hint-item";
      const color = document.createElement("input");
      color.type = "color";
      color.value = hint.color;
      color.setAttribute("aria-label", `Color of hint ${index + 1}`);
      color.addEventListener("input", () => {
        hint.color = color.value.toLowerCase();
        const marker = el.markers.children[index];
        if (marker) marker.style.backgroundColor = hint.color;
        schedule();
      });
      const text = document.createElement("span");
      text.className = "hint-text";
      text.textContent = `x ${hint.x}, y ${hint.y}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button subtle remove";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove hint ${index + 1}`);
      remove.addEventListener("click", () => {
        state.hints.splice(index, 1);
        renderHints();
        schedule(150);
      });
      item.append(color, text, remove);
      el.hintList.append(item);
    });
    el.hintClear.hidden = state.hints.length === 0;
  }

  el.hintClear.addEventListener("click", () => {
    state.hints = [];
    renderHints();
    schedule(150);
  });

  // ------------------------------------------------------------------ start

  setDivider(50);
  showVividness();
  loadHealth();
  loadExamples();
})();
