/* The live connection: one WebSocket per page to the project's consumer. Every event carries the
   project's sequence number; the first message is a snapshot of the truth. A gap in the numbers
   asks for a fresh snapshot, a dropped socket reconnects with backoff (and gets a snapshot), and
   events already covered by a snapshot are ignored. What an event does to the page is the
   caller's business (live-events.js).
   Every 25 s the page beats with the last number it saw: the beat keeps its presence alive, and
   the server answers a beat that is behind with a fresh snapshot (a final state the layer
   dropped comes back from the database). Presence deltas carry no number; a progress tick
   ("tick": true) carries the number of the last event before it, not one of its own. */

export const state = { socket: null, seq: null, attempt: 0, timer: null, beat: null, resyncing: false };
const HEARTBEAT_MS = 25000;
let handlers = { snapshot: function () {}, event: function () {} };

function setLiveStatus(name, text) {
  const el = document.getElementById("live-status");
  if (!el) return;
  el.dataset.state = name;
  el.textContent = text;
}

// onSnapshot(msg, {first}) and onEvent(msg): called for every message, in order, once each.
export function connectLive(onSnapshot, onEvent) {
  handlers = { snapshot: onSnapshot, event: onEvent };
  connect();
}

// One snapshot asked at a time: while it is on its way, every tick of every take rendering is
// still above our number, and each would ask again (and each extra snapshot refetches the page's
// fragments).
export function resync() {
  if (state.resyncing) return;
  state.resyncing = true;
  sendLive({ type: "resync" });
}

export function sendLive(message) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
}

export function heartbeat() {
  sendLive({ type: "heartbeat", seq: state.seq });
}

function connect() {
  const path = document.body.dataset.wsPath;
  if (!path || !("WebSocket" in window)) return;
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  let socket;
  try {
    const room = document.body.dataset.liveRoom || "project";
    socket = new WebSocket(scheme + location.host + path + "?room=" + encodeURIComponent(room));
  } catch (err) {
    reconnectLater();
    return;
  }
  state.socket = socket;
  socket.onopen = function () {
    state.attempt = 0;
    state.resyncing = false; // a new socket sends its snapshot unasked
    setLiveStatus("live", "Live");
    clearInterval(state.beat);
    state.beat = setInterval(heartbeat, HEARTBEAT_MS);
  };
  socket.onmessage = function (evt) {
    let msg;
    try { msg = JSON.parse(evt.data); } catch (err) { console.warn("live: bad message", err); return; }
    // Events that reached the server together come as one array, in order.
    (Array.isArray(msg) ? msg : [msg]).forEach(receive);
  };
  socket.onclose = function (evt) {
    state.socket = null;
    clearInterval(state.beat);
    if (evt.code === 4404) { setLiveStatus("closed", "No access"); return; }
    reconnectLater();
  };
}

function reconnectLater() {
  clearTimeout(state.timer);
  // Exponential backoff with jitter, so a restarted server is not stormed by every browser.
  const base = Math.min(30000, 1000 * Math.pow(2, state.attempt));
  const delay = base / 2 + Math.random() * base / 2;
  state.attempt += 1;
  setLiveStatus("reconnecting", "Reconnecting…");
  state.timer = setTimeout(connect, delay);
}

function receive(msg) {
  if (msg.type === "snapshot") {
    const first = state.seq === null;
    // Taken as it is, even below a number already seen: a snapshot reused by the server can be
    // older than an event that reached us first. The next event then looks like a gap and asks
    // again: one snapshot more, never a change missed.
    state.seq = msg.seq;
    state.resyncing = false;
    handlers.snapshot(msg, { first: first });
    return;
  }
  if (msg.tick) {
    // A progress tick has no number of its own: it carries the last event's. One above ours means
    // we missed that event. Painted either way: it is the newest progress there is.
    if (typeof msg.seq === "number" && state.seq !== null && msg.seq > state.seq) resync();
  } else if (typeof msg.seq === "number" && state.seq !== null) {
    if (msg.seq <= state.seq) return; // already seen (we join before the snapshot)
    if (msg.seq > state.seq + 1) resync(); // a gap: the snapshot tells the truth
    state.seq = msg.seq;
  }
  handlers.event(msg);
}
