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
  };

  // ------------------------------------------------------------------ server info

  async function loadHealth() {
    try {
      const response = await fetch("api/health", { cache: "no-store" });
      if (!response.ok) throw new Error(`${response.status}`);
      const h = await response.json();
      state.health = h;
      const parts = [`Model: ${h.model} (${h.architecture}, ${h.head})`];
      parts.push(h.hints ? "accepts color hints" : "no color hints");
      el.modelStatus.textContent = parts.join(" · ");
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
    el.drop.classList.add("compact");
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
        // Play both together: the pair shows what changed and what did not.
        video.after.addEventListener("canplay", () => {
          video.before.currentTime = 0;
          video.before.play().catch(() => {});
          video.after.play().catch(() => {});
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

  function videoFailed(seq, message) {
    if (seq !== video.seq) return;
    video.label.textContent = "Failed";
    video.progress.value = 0;
    showError(message);
    el.body.dataset.state = "error";
  }

  function setFile(file) {
    if (!file) return;
    hideError();
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
    el.drop.classList.add("compact");
    colorize();
  }

  el.choose.addEventListener("click", () => el.file.click());
  el.file.addEventListener("change", () => {
    if (el.file.files && el.file.files[0]) setFile(el.file.files[0]);
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
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) setFile(file);
  });
  // A photo dropped anywhere else must not make the browser navigate away to it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) setFile(file);
  });
  window.addEventListener("paste", (event) => {
    const items = event.clipboardData ? Array.from(event.clipboardData.files) : [];
    if (items.length) setFile(items[0]);
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
        el.drop.classList.remove("compact");
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

  function setDownload(url, response) {
    if (!url) {
      el.download.removeAttribute("href");
      el.download.setAttribute("aria-disabled", "true");
      return;
    }
    const ext = { png: "png", jpeg: "jpg", webp: "webp" }[el.format.value] || "png";
    let name = `${(state.file.name || "photo").replace(/\.[^.]*$/, "")}-colorized.${ext}`;
    const disposition = response && response.headers.get("Content-Disposition");
    const match = disposition && /filename="([^"]+)"/.exec(disposition);
    if (match) name = match[1];
    el.download.href = url;
    el.download.download = name;
    el.download.setAttribute("aria-disabled", "false");
  }

  el.download.addEventListener("click", (event) => {
    if (el.download.getAttribute("aria-disabled") === "true") event.preventDefault();
  });

  function showVividness() {
    el.vividnessValue.textContent = Number(el.vividness.value).toFixed(2);
  }
  el.vividness.addEventListener("input", () => { showVividness(); schedule(); });
  el.format.addEventListener("change", () => schedule(0));

  // ------------------------------------------------------------------ before / after divider

  function setDivider(percent) {
    state.divider = Math.min(100, Math.max(0, percent));
    const p = state.divider;
    el.after.style.clipPath = `inset(0 0 0 ${p}%)`;
    el.divider.style.left = `${p}%`;
    el.divider.setAttribute("aria-valuenow", String(Math.round(p)));
  }

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
    dragging = { pointerId: event.pointerId, hint: false };
    el.compare.setPointerCapture(event.pointerId);
    setDivider(percentAt(event));
    event.preventDefault();
  });
  el.compare.addEventListener("pointermove", (event) => {
    if (!dragging || dragging.hint || event.pointerId !== dragging.pointerId) return;
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
    const size = imageSize();
    if (!size || !state.file) return;
    const rect = el.compare.getBoundingClientRect();
    const fx = (event.clientX - rect.left) / rect.width;
    const fy = (event.clientY - rect.top) / rect.height;
    if (fx < 0 || fx >= 1 || fy < 0 || fy >= 1) return;
    const x = Math.min(size.width - 1, Math.floor(fx * size.width));
    const y = Math.min(size.height - 1, Math.floor(fy * size.height));
    state.hints.push({ x, y, color: el.hintColor.value.toLowerCase() });
    renderHints();
    schedule(150);
  }

  function setHintMode(on) {
    state.hintMode = on;
    el.hintMode.setAttribute("aria-pressed", on ? "true" : "false");
    el.hintMode.textContent = on ? "Done adding hints" : "Add hints";
    el.compare.dataset.mode = on ? "hints" : "compare";
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
})();
