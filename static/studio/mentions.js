/* The @cast autocomplete in prompt fields (textarea[data-mention]): typing "@" offers the
   project's cast handles (from the page's #cast-handles JSON) as an ARIA listbox; arrows choose,
   Enter or Tab accepts, Escape closes. A comment field (data-mention="people") also offers the
   project's members (#mention-people), whom a mention notifies. */

const MENTION_BEFORE_CARET = /(^|[^\w@])@([a-z0-9_]*)$/i;
let mention = null; // { field, list, items, index, start }

export function startMentions() {
  document.addEventListener("input", function (evt) {
    if (evt.target.matches("textarea[data-mention]")) updateMention(evt.target);
  });
  document.addEventListener("keydown", onKey);
  document.addEventListener("focusout", function (evt) {
    if (mention && evt.target === mention.field) setTimeout(closeMention, 100);
  });
}

function readJson(id) {
  const data = document.getElementById(id);
  try { return data ? JSON.parse(data.textContent) : []; } catch (e) { return []; }
}

function castHandles(field) {
  const cast = readJson("cast-handles");
  return field.dataset.mention === "people" ? readJson("mention-people").concat(cast) : cast;
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
  const items = castHandles(field).filter(function (c) {
    return c.handle.startsWith(query) || c.name.toLowerCase().includes(query);
  }).slice(0, 8);
  // Nothing to offer, or the handle is already typed out in full.
  if (!items.length || (items.length === 1 && items[0].handle === query)) { closeMention(); return; }
  if (!mention || mention.field !== field) openMention(field);
  mention.items = items;
  mention.index = Math.min(mention.index, items.length - 1);
  mention.start = field.selectionStart - match[2].length - 1;
  renderMention();
}

function openMention(field) {
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

function onKey(evt) {
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
}
