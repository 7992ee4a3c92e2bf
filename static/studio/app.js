/* Continuity studio: htmx set-up, toasts, the live connection (WebSocket with resync),
   drag-to-reorder lists and the @cast autocomplete. Plain JavaScript, no build step. */
(function () {
  "use strict";

  // --- htmx -----------------------------------------------------------------------------------
  // Attributes are explicit on every element; only the CSRF header comes from <body>.
  htmx.config.disableInheritance = true;
  document.body.setAttribute("hx-inherit", "hx-headers");
  // 409 (someone else saved first) and 422 (values refused) carry a form to show: swap them.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "409", swap: true, error: false },
    { code: "422", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    const xhr = evt.detail.xhr;
    const type = xhr.getResponseHeader("Content-Type") || "";
    if (xhr.status === 422 && type.startsWith("text/plain")) {
      // A refusal with a message and nothing to show in place: keep the page, say why.
      evt.detail.shouldSwap = false;
      toast(xhr.responseText, "error");
    }
  });

  document.body.addEventListener("htmx:responseError", function (evt) {
    const status = evt.detail.xhr.status;
    const messages = { 403: "Your role in this project does not allow this.", 404: "That is gone, or you no longer have access to it." };
    // 429 (too many renders) carries its own explanation: when to try again.
    const own = status === 429 ? evt.detail.xhr.responseText : "";
    toast(own || messages[status] || "Something went wrong (" + status + "). Please try again.", "error");
  });
  document.body.addEventListener("htmx:sendError", function () {
    toast("The studio cannot be reached. Check your connection.", "error");
  });

  // A live refresh must never throw away what someone is typing or dragging.
  document.body.addEventListener("htmx:beforeRequest", function (evt) {
    const trigger = evt.detail.requestConfig && evt.detail.requestConfig.triggeringEvent;
    if (!trigger || !String(trigger.type).startsWith("live-")) return;
    const target = evt.detail.target;
    const active = document.activeElement;
    const typing = active && target.contains(active) && active.matches("input, textarea, select");
    if (document.body.classList.contains("dragging") || target.querySelector("[data-editing], .upload:not(.done):not(.failed)") || typing) {
      evt.preventDefault();
      target.dataset.staleSince = Date.now();
    }
  });

  // --- Toasts -----------------------------------------------------------------------------------
  const toasts = document.getElementById("toasts");

  function toast(message, level) {
    if (!message) return;
    const el = document.createElement("div");
    el.className = "toast " + (level || "info");
    el.setAttribute("role", level === "error" ? "alert" : "status");
    el.textContent = message;
    toasts.appendChild(el);
    dismissLater(el);
  }

  function dismissLater(el) {
    setTimeout(function () { el.classList.add("leaving"); }, 6000);
    setTimeout(function () { el.remove(); }, 6600);
  }

  toasts.querySelectorAll(".toast").forEach(dismissLater);
  document.body.addEventListener("toast", function (evt) { toast(evt.detail.message, evt.detail.level); });
  window.ContinuityToast = toast;

  // --- Live updates ---------------------------------------------------------------------------
  const FINAL = new Set(["succeeded", "failed", "cancelled"]);
  const STATUS_LABELS = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled" };
  const live = { socket: null, seq: null, attempt: 0, timer: null };
  const pending = new Map();

  function emit(name, detail) {
    detail = detail || {};
    document.body.dispatchEvent(new CustomEvent(name, { detail: detail, bubbles: true }));
    // Fragments say what they show in data-live ("live-shot-refresh:shot=12"); they are told
    // directly, because htmx trigger filters would need eval, which our CSP forbids.
    Object.keys(detail).forEach(function (key) {
      const token = name + ":" + key + "=" + detail[key];
      document.querySelectorAll('[data-live~="' + CSS.escape(token) + '"]').forEach(function (el) {
        // Not bubbling: a shot card's refresh must not also refresh the scene around it.
        el.dispatchEvent(new CustomEvent("live-refresh", { bubbles: false }));
      });
    });
  }

  // Progress arrives many times a second; ask for a fragment at most once per short while.
  function emitSoon(name, detail, key) {
    const id = name + ":" + key;
    if (pending.has(id)) return;
    pending.set(id, setTimeout(function () { pending.delete(id); emit(name, detail); }, 250));
  }

  function setLiveStatus(state, text) {
    const el = document.getElementById("live-status");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  function connect() {
    const path = document.body.dataset.wsPath;
    if (!path || !("WebSocket" in window)) return;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    let socket;
    try {
      socket = new WebSocket(scheme + location.host + path);
    } catch (err) {
      reconnectLater();
      return;
    }
    live.socket = socket;
    socket.onopen = function () { live.attempt = 0; setLiveStatus("live", "Live"); };
    socket.onmessage = function (evt) {
      try { handle(JSON.parse(evt.data)); } catch (err) { console.warn("live: bad message", err); }
    };
    socket.onclose = function (evt) {
      live.socket = null;
      if (evt.code === 4404) { setLiveStatus("closed", "No access"); return; }
      reconnectLater();
    };
  }

  function reconnectLater() {
    clearTimeout(live.timer);
    // Exponential backoff with jitter, so a restarted server is not stormed by every browser.
    const base = Math.min(30000, 1000 * Math.pow(2, live.attempt));
    const delay = base / 2 + Math.random() * base / 2;
    live.attempt += 1;
    setLiveStatus("reconnecting", "Reconnecting…");
    live.timer = setTimeout(connect, delay);
  }

  function resync() {
    if (live.socket && live.socket.readyState === WebSocket.OPEN) live.socket.send(JSON.stringify({ type: "resync" }));
  }

  function handle(msg) {
    if (msg.type === "snapshot") {
      const first = live.seq === null;
      live.seq = msg.seq;
      (msg.takes || []).forEach(function (t) { paintTake(t); });
      (msg.exports || []).forEach(function (e) { paintExport(e); });
      if (!first) emit("live-resync", {}); // we may have missed events: fragments refetch
      return;
    }
    if (typeof msg.seq === "number" && live.seq !== null) {
      if (msg.seq <= live.seq) return; // already seen (we join before the snapshot)
      if (msg.seq > live.seq + 1) resync(); // a gap: the snapshot tells the truth
      live.seq = msg.seq;
    }
    dispatch(msg);
    emit("live-event", msg);
  }

  function dispatch(msg) {
    switch (msg.type) {
      case "take.changed": takeChanged(msg.take); break;
      case "shot.changed": shotChanged(msg); break;
      case "scene.changed":
        emit(document.getElementById("scene-" + msg.scene) ? "live-scene-refresh" : "live-board-refresh", { scene: msg.scene });
        break;
      case "scene.reordered": emit("live-scene-refresh", { scene: msg.scene }); break;
      case "script.imported": emit("live-board-refresh", {}); break;
      case "cast.changed": emit("live-cast-changed", { cast_member: msg.cast_member }); break;
      case "comment.added":
      case "comment.changed":
        emit("live-comments", { take: msg.take });
        emitSoon("live-shot-takes", { shot: msg.shot }, msg.shot);
        break;
      case "take.reviewed":
        emit("live-shot-refresh", { shot: msg.shot });
        emit("live-shot-takes", { shot: msg.shot });
        break;
      case "cut.changed": emit("live-cut-changed", { cut: msg.cut }); break;
      case "export.changed": exportChanged(msg.export); break;
      case "project.updated": toast("The project settings were changed.", "info"); break;
    }
  }

  function takeChanged(take) {
    const elements = document.querySelectorAll('[data-take-id="' + take.id + '"]');
    const before = elements.length ? elements[0].dataset.status : null;
    paintTake(take);
    if (!elements.length) {
      emitSoon("live-take-new", { take: take.id, shot: take.shot_id }, take.id);
      emitSoon("live-shot-refresh", { shot: take.shot_id }, take.shot_id);
      emitSoon("live-shot-takes", { shot: take.shot_id }, take.shot_id);
    } else if (before !== take.status) {
      if (FINAL.has(take.status)) emit("live-take-final", { take: take.id, shot: take.shot_id });
      emitSoon("live-shot-refresh", { shot: take.shot_id }, take.shot_id);
      emitSoon("live-shot-takes", { shot: take.shot_id }, take.shot_id);
    }
  }

  function paintTake(take) {
    document.querySelectorAll('[data-take-id="' + take.id + '"]').forEach(function (el) {
      el.dataset.status = take.status;
      paintProgress(el, take.progress, STATUS_LABELS[take.status] || take.status);
      const steps = el.querySelector('[data-field="steps"]');
      if (steps) steps.textContent = take.total_steps ? take.step + "/" + take.total_steps : "";
    });
  }

  function paintProgress(el, progress, label) {
    const percent = Math.round(Math.max(0, Math.min(1, progress || 0)) * 100);
    const bar = el.querySelector(".bar");
    if (bar) bar.style.width = percent + "%";
    const meter = el.querySelector('[role="progressbar"]');
    if (meter) meter.setAttribute("aria-valuenow", String(percent));
    const status = el.querySelector('[data-field="status"]');
    if (status) status.textContent = label;
  }

  function shotChanged(msg) {
    const card = document.getElementById("shot-" + msg.shot);
    if (msg.trashed) {
      if (card && !card.querySelector("[data-editing]")) card.remove();
      return;
    }
    if (card) emit("live-shot-refresh", { shot: msg.shot });
    else emit("live-scene-refresh", { scene: msg.scene });
  }

  function exportChanged(exp) {
    const row = document.querySelector('[data-export-id="' + exp.id + '"]');
    const before = row ? row.dataset.status : null;
    paintExport(exp);
    if (!row || before !== exp.status) emitSoon("live-export-refresh", { cut: exp.cut_id }, exp.cut_id);
  }

  function paintExport(exp) {
    document.querySelectorAll('[data-export-id="' + exp.id + '"]').forEach(function (el) {
      el.dataset.status = exp.status;
      paintProgress(el, exp.progress, STATUS_LABELS[exp.status] || exp.status);
    });
  }

  window.ContinuityLive = { resync: resync, state: live };

  // --- Reorderable lists ------------------------------------------------------------------------
  function setUpSortable(list) {
    if (list.dataset.sortableReady) return;
    list.dataset.sortableReady = "1";
    if (window.Sortable) {
      Sortable.create(list, {
        animation: 150,
        draggable: "[data-id]",
        handle: list.querySelector(".drag-handle") ? ".drag-handle" : undefined,
        filter: "button, a, input, select, textarea, summary",
        preventOnFilter: false,
        onStart: function () { document.body.classList.add("dragging"); },
        onEnd: function (evt) {
          document.body.classList.remove("dragging");
          if (evt.oldIndex !== evt.newIndex) sendOrder(list);
        },
      });
    }
    // Keyboard: Alt + arrow keys move the focused item.
    list.addEventListener("keydown", function (evt) {
      if (!evt.altKey) return;
      const item = evt.target.closest("[data-id]");
      if (!item || item.parentElement !== list) return;
      const back = evt.key === "ArrowUp" || evt.key === "ArrowLeft";
      const forward = evt.key === "ArrowDown" || evt.key === "ArrowRight";
      if (!back && !forward) return;
      evt.preventDefault();
      const sibling = back ? item.previousElementSibling : item.nextElementSibling;
      if (!sibling || !sibling.dataset.id) return;
      list.insertBefore(item, back ? sibling : sibling.nextElementSibling);
      item.focus();
      sendOrder(list);
    });
  }

  function sendOrder(list) {
    const ids = Array.from(list.children).filter(function (c) { return c.dataset.id; }).map(function (c) { return c.dataset.id; });
    const body = new URLSearchParams();
    ids.forEach(function (id) { body.append("ids", id); });
    if (list.dataset.version) body.append("version", list.dataset.version);
    fetch(list.dataset.reorderUrl, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
    }).then(function (response) {
      return response.text().then(function (text) {
        const target = list.dataset.reorderTarget && document.querySelector(list.dataset.reorderTarget);
        const html = (response.headers.get("Content-Type") || "").startsWith("text/html");
        if (target && html && text) {
          htmx.swap(target, text, { swapStyle: "outerHTML" });
          if (response.status === 409) toast("Someone else changed this first; the list shows their order now.", "error");
        } else if (!response.ok) {
          toast(text || "The new order could not be saved.", "error");
          emit("live-resync", {});
        } else {
          const trigger = response.headers.get("HX-Trigger");
          if (trigger) { try { const t = JSON.parse(trigger).toast; toast(t.message, t.level); } catch (e) { /* no toast */ } }
        }
      });
    }).catch(function () { toast("The new order could not be saved.", "error"); });
  }

  // --- @cast autocomplete -----------------------------------------------------------------------
  const MENTION_BEFORE_CARET = /(^|[^\w@])@([a-z0-9_]*)$/i;
  let mention = null; // { field, list, items, index, start }

  function castHandles() {
    const data = document.getElementById("cast-handles");
    try { return data ? JSON.parse(data.textContent) : []; } catch (e) { return []; }
  }

  function closeMention() {
    if (!mention) return;
    mention.list.remove();
    mention.field.setAttribute("aria-expanded", "false");
    mention.field.removeAttribute("aria-activedescendant");
    mention = null;
  }

  function updateMention(field) {
    const before = field.value.slice(0, field.selectionStart);
    const match = MENTION_BEFORE_CARET.exec(before);
    if (!match) { closeMention(); return; }
    const query = match[2].toLowerCase();
    const items = castHandles().filter(function (c) {
      return c.handle.startsWith(query) || c.name.toLowerCase().includes(query);
    }).slice(0, 8);
    // Nothing to offer, or the handle is already typed out in full.
    if (!items.length || (items.length === 1 && items[0].handle === query)) { closeMention(); return; }
    if (!mention || mention.field !== field) {
      closeMention();
      const list = document.createElement("ul");
      list.className = "mention-list";
      list.id = "mention-list";
      list.setAttribute("role", "listbox");
      list.setAttribute("aria-label", "Cast");
      document.body.appendChild(list);
      mention = { field: field, list: list, items: [], index: 0, start: 0 };
      field.setAttribute("aria-autocomplete", "list");
      field.setAttribute("aria-controls", list.id);
    }
    mention.items = items;
    mention.index = Math.min(mention.index, items.length - 1);
    mention.start = field.selectionStart - match[2].length - 1;
    renderMention();
  }

  function renderMention() {
    const list = mention.list;
    list.innerHTML = "";
    mention.items.forEach(function (c, i) {
      const option = document.createElement("li");
      option.id = "mention-option-" + i;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", i === mention.index ? "true" : "false");
      option.innerHTML = '<code></code> <span class="muted"></span>';
      option.querySelector("code").textContent = "@" + c.handle;
      option.querySelector("span").textContent = c.name + " · " + c.kind;
      option.addEventListener("mousedown", function (evt) { evt.preventDefault(); mention.index = i; acceptMention(); });
      list.appendChild(option);
    });
    const rect = mention.field.getBoundingClientRect();
    list.style.left = (rect.left + window.scrollX) + "px";
    list.style.top = (rect.bottom + window.scrollY + 2) + "px";
    list.style.minWidth = Math.min(rect.width, 320) + "px";
    mention.field.setAttribute("aria-expanded", "true");
    mention.field.setAttribute("aria-activedescendant", "mention-option-" + mention.index);
  }

  function acceptMention() {
    const field = mention.field;
    const chosen = mention.items[mention.index];
    const caret = field.selectionStart;
    const insert = "@" + chosen.handle + " ";
    field.value = field.value.slice(0, mention.start) + insert + field.value.slice(caret);
    const position = mention.start + insert.length;
    field.setSelectionRange(position, position);
    closeMention();
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("input", function (evt) {
    if (evt.target.matches("textarea[data-mention]")) updateMention(evt.target);
  });
  document.addEventListener("keydown", function (evt) {
    if (!mention || evt.target !== mention.field) return;
    if (evt.key === "ArrowDown" || evt.key === "ArrowUp") {
      evt.preventDefault();
      const n = mention.items.length;
      mention.index = (mention.index + (evt.key === "ArrowDown" ? 1 : n - 1)) % n;
      renderMention();
    } else if (evt.key === "Enter" || evt.key === "Tab") {
      evt.preventDefault();
      acceptMention();
    } else if (evt.key === "Escape") {
      evt.preventDefault();
      closeMention();
    }
  });
  document.addEventListener("focusout", function (evt) {
    if (mention && evt.target === mention.field) setTimeout(closeMention, 100);
  });

  // --- Start ----------------------------------------------------------------------------------
  htmx.onLoad(function (root) {
    const scope = root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("[data-sortable]")) setUpSortable(scope);
    scope.querySelectorAll("[data-sortable]").forEach(setUpSortable);
  });
  connect();
})();
