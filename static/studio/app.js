/* Continuity studio: the module every page loads. It sets htmx up, shows toasts, keeps the live
   connection, and wires the reorderable lists and the @cast autocomplete. Pages with more to do
   load their own module from pages/. Plain ES modules from 'self' (the CSP allows nothing else),
   no build step. */

import { configureHtmx } from "./htmx-setup.js";
import { connectLive, heartbeat, resync, state } from "./live.js";
import { onEvent, onSnapshot } from "./live-events.js";
import { paintPresence, watchEditing } from "./live-presence.js";
import { startMentions } from "./mentions.js";
import { setUpSortableLists } from "./sortable-lists.js";
import { startToasts } from "./toasts.js";

configureHtmx();
startToasts();
startMentions();
htmx.onLoad(function (root) {
  setUpSortableLists(root.querySelectorAll ? root : document);
  paintPresence(root);  // a swapped-in card or form shows who is there at once
  watchEditing();
});
connectLive(onSnapshot, onEvent);

// For the browser console and the browser tests: the connection's state, a manual resync.
window.ContinuityLive = { resync: resync, heartbeat: heartbeat, state: state };
