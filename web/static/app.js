// rocketlite's web client. Plain ES modules, no framework, no build step: the REST APIs for
// reads and writes, DDP (/websocket) for everything live. Every piece of user data reaches the
// DOM through textContent or format.js, never parsed as HTML.

import { DDP } from "./ddp.js";
import { formatText, systemText } from "./format.js";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...kids.filter((k) => k !== null && k !== undefined));
  return e;
};

const PAGE = 50;
const state = {
  uid: null, token: null, me: null,
  subs: new Map(),      // rid → subscription (name, t, unread, userMentions)
  rooms: new Map(),     // rid → room (topic, ro, archived)
  msgs: new Map(),      // rid → Map(id → message)
  more: new Map(),      // rid → whether older pages remain
  current: null,
  thread: null,
  outbox: [],           // messages typed but not acknowledged: [{_id, rid, msg, tmid}]
  typing: new Map(),    // rid → Map(username → expiry)
  users: [],            // for @mention completion
  ddp: null,
  roomSubs: new Set(),  // rooms whose per-room streams are subscribed
  replies: new Map(),   // thread parent id → ids of the replies seen
};

// ---- storage: the session and the outbox survive a reload -------------------------------
function save() {
  localStorage.setItem("rl.session", JSON.stringify({ uid: state.uid, token: state.token }));
  localStorage.setItem("rl.outbox", JSON.stringify(state.outbox));
}
function load() {
  try {
    const s = JSON.parse(localStorage.getItem("rl.session") || "{}");
    state.uid = s.uid || null;
    state.token = s.token || null;
    state.outbox = JSON.parse(localStorage.getItem("rl.outbox") || "[]");
  } catch { state.outbox = []; }
}

// ---- REST -------------------------------------------------------------------------------
class APIError extends Error {
  constructor(status, body) {
    super((body && (body.error || body.message)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}
async function api(method, path, body) {
  const headers = {};
  if (state.token) { headers["X-User-Id"] = state.uid; headers["X-Auth-Token"] = state.token; }
  let payload;
  if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  const res = await fetch(path, { method, headers, body: payload, cache: "no-store" });
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (res.status === 401 && state.token && !path.endsWith("/login")) { logoutLocal(); throw new APIError(401, data); }
  if (!res.ok) throw new APIError(res.status, data);
  return data;
}
const q = (o) => new URLSearchParams(o).toString();
const toMs = (t) => (t && typeof t === "object" && "$date" in t ? t.$date : Date.parse(t));

function normalize(m) {
  m.tsMs = toMs(m.ts);
  if (m.editedAt) m.editedMs = toMs(m.editedAt);
  return m;
}

// ---- login ------------------------------------------------------------------------------
async function login(user, password) {
  const body = user.includes("@") ? { user, password } : { username: user, password };
  const res = await api("POST", "/api/v1/login", body);
  state.uid = res.data.userId;
  state.token = res.data.authToken;
  save();
  await start();
}

function logoutLocal() {
  state.uid = state.token = state.me = null;
  state.outbox = [];
  save();
  if (state.ddp) state.ddp.close();
  state.ddp = null;
  state.roomSubs.clear();
  $("app").hidden = true;
  $("login").hidden = false;
}

async function logout() {
  // "Everywhere": this token, and over DDP every socket that used it.
  try { await api("POST", "/api/v1/logout"); } catch { /* already gone */ }
  logoutLocal();
}

async function start() {
  try {
    state.me = await api("GET", "/api/v1/me");
  } catch (err) {
    if (err.status === 401) return logoutLocal();
    throw err;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("me-name").textContent = state.me.username;
  $("admin-open").hidden = !(state.me.roles || []).includes("admin");
  await loadSubscriptions();
  connect();
  const last = localStorage.getItem("rl.room");
  const first = (last && state.subs.has(last)) ? last : [...state.subs.keys()][0];
  if (first) openRoom(first);
  loadUsers();
}

// ---- rooms --------------------------------------------------------------------------------
async function loadSubscriptions() {
  const res = await api("GET", "/api/v1/subscriptions.get");
  state.subs.clear();
  for (const s of res.update || []) if (s.open !== false || s.rid === state.current) state.subs.set(s.rid, s);
  renderRooms();
}

function renderRooms() {
  const list = $("rooms");
  list.replaceChildren();
  const subs = [...state.subs.values()].sort((a, b) => (a.t === "d") - (b.t === "d") || (a.fname || a.name).localeCompare(b.fname || b.name));
  for (const s of subs) {
    const icon = s.t === "d" ? "@" : s.t === "p" ? "🔒" : "#";
    const badge = s.unread > 0 ? el("span", { class: "badge" + (s.userMentions > 0 ? " mention" : ""), title: `${s.unread} unread` }, String(s.userMentions > 0 ? s.userMentions : s.unread)) : null;
    list.append(el("li", {
      class: (s.rid === state.current ? "active " : "") + (s.unread > 0 ? "unread" : ""),
      tabindex: "0", dataset: { rid: s.rid },
      onclick: () => openRoom(s.rid),
      onkeydown: (e) => { if (e.key === "Enter") openRoom(s.rid); },
    }, el("span", { class: "kind" }, icon), el("span", { class: "name" }, s.fname || s.name), badge));
  }
}

async function openRoom(rid) {
  state.current = rid;
  localStorage.setItem("rl.room", rid);
  $("app").classList.remove("show-rooms");
  $("admin").hidden = true;
  $("room").hidden = false;
  const s = state.subs.get(rid);
  $("room-name").textContent = s ? (s.t === "d" ? "@" : s.t === "p" ? "🔒 " : "#") + (s.fname || s.name) : rid;
  $("room-topic").textContent = "";
  $("composer").hidden = false;
  $("room-error").textContent = "";
  renderRooms();
  if (!state.msgs.has(rid)) {
    state.msgs.set(rid, new Map());
    state.more.set(rid, true);
    await loadOlder(rid, true);
  } else {
    renderMessages(true);
  }
  markRead(rid);
  if (state.ddp && !state.roomSubs.has(rid)) {
    // Typing and deletions are announced per room (__my_messages__ carries new and edited ones).
    state.roomSubs.add(rid);
    state.ddp.subscribe("stream-notify-room", `${rid}/typing`, false);
    state.ddp.subscribe("stream-notify-room", `${rid}/deleteMessage`, false);
  }
  api("GET", "/api/v1/rooms.info?" + q({ roomId: rid })).then((r) => {
    if (state.current === rid && r.room) $("room-topic").textContent = r.room.topic || "";
  }).catch(() => {});
  $("text").focus();
}

// loadOlder loads the page before the oldest message loaded (a cursor by message id, so that
// messages sharing a millisecond are neither skipped nor repeated), or the newest page.
async function loadOlder(rid, newest = false) {
  const msgs = state.msgs.get(rid);
  if (!state.more.get(rid) || state.loading) return;
  state.loading = true;
  try {
    const params = { count: PAGE };
    if (!newest && msgs.size > 0) {
      let oldest = null;
      for (const m of msgs.values()) if (!m.pending && (!oldest || m.tsMs < oldest.tsMs || (m.tsMs === oldest.tsMs && m.seqHint < oldest.seqHint))) oldest = m;
      if (oldest) params.before = oldest._id;
    }
    const res = await api("GET", `/api/rooms/${encodeURIComponent(rid)}/messages?` + q(params));
    const page = res.messages || [];
    // A page is newest first; seqHint orders messages of one millisecond as the server did.
    const base = msgs.size;
    page.forEach((m, i) => { if (!msgs.has(m._id)) { normalize(m); m.seqHint = -(base + i); msgs.set(m._id, m); } });
    // Only an empty page is the end: the server cuts a page short at its byte budget.
    if (page.length === 0) state.more.set(rid, false);
    if (state.current === rid) renderMessages(newest);
  } catch (err) {
    showError(err);
  } finally {
    state.loading = false;
  }
}

function markRead(rid) {
  const s = state.subs.get(rid);
  if (s && (s.unread > 0 || s.alert)) {
    s.unread = 0; s.userMentions = 0; s.alert = false;
    renderRooms();
  }
  api("POST", "/api/v1/subscriptions.read", { rid }).catch(() => {});
}

// ---- messages -----------------------------------------------------------------------------
function sorted(rid) {
  const list = [...state.msgs.get(rid).values()].filter((m) => !m.tmid || m.tshow);
  for (const o of state.outbox) if (o.rid === rid && !o.tmid && !state.msgs.get(rid).has(o._id)) list.push({ ...o, pending: true, tsMs: o.tsMs, u: { _id: state.uid, username: state.me.username } });
  return list.sort((a, b) => a.tsMs - b.tsMs || (a.seqHint || 0) - (b.seqHint || 0));
}

function renderMessages(toBottom) {
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const oldHeight = box.scrollHeight, oldTop = box.scrollTop;
  box.replaceChildren();
  let day = "";
  for (const m of sorted(state.current)) {
    const d = new Date(m.tsMs).toDateString();
    if (d !== day) { day = d; box.append(el("div", { class: "day" }, d)); }
    box.append(renderMessage(m));
  }
  if (toBottom || atBottom) box.scrollTop = box.scrollHeight;
  else box.scrollTop = box.scrollHeight - oldHeight + oldTop;
}

function renderMessage(m, inThread = false) {
  if (m.t) return el("div", { class: "system", dataset: { id: m._id } }, systemText(m));
  const mine = m.u && m.u._id === state.uid;
  const time = new Date(m.tsMs).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const avatar = el("img", { class: "avatar", alt: "", src: "/avatar/" + encodeURIComponent(m.u.username), loading: "lazy" });
  avatar.addEventListener("error", () => { avatar.replaceWith(initials(m.u.username)); }, { once: true });
  const tools = el("span", { class: "tools" },
    inThread ? null : el("button", { type: "button", title: "Reply in thread", onclick: () => openThread(m) }, "↳"),
    el("button", { type: "button", title: "React", onclick: () => react(m, ":thumbsup:") }, "👍"),
    mine && !m.pending ? el("button", { type: "button", class: "edit", title: "Edit", onclick: () => editMessage(m) }, "Edit") : null,
    mine && !m.pending ? el("button", { type: "button", class: "delete", title: "Delete", onclick: () => deleteMessage(m) }, "Delete") : null);
  const reactions = m.reactions && Object.keys(m.reactions).length
    ? el("div", { class: "reactions" }, ...Object.entries(m.reactions).map(([emoji, r]) =>
      el("button", { type: "button", title: `${emoji} ${(r.usernames || []).join(", ")}`, onclick: () => react(m, emoji) }, `${emojiOf(emoji)} ${(r.usernames || []).length}`)))
    : null;
  const replies = Math.max(m.tcount || 0, (state.replies.get(m._id) || new Set()).size);
  const thread = !inThread && replies ? el("button", { type: "button", class: "thread-link", onclick: () => openThread(m) }, `${replies} repl${replies === 1 ? "y" : "ies"}`) : null;
  return el("div", { class: "msg" + (m.pending ? " pending" : ""), dataset: { id: m._id } },
    avatar,
    el("div", { class: "head" }, el("span", { class: "author" }, m.alias || m.u.name || m.u.username), el("span", { class: "time" }, time),
      m.editedAt ? el("span", { class: "edited" }, "(edited)") : null, m.pending ? el("span", { class: "edited" }, "sending…") : null),
    el("div", { class: "body" }, formatText(m.msg || "")),
    reactions, thread, tools);
}

// The shortcodes people use most, shown as their emoji; any other as its name.
const EMOJI = { ":thumbsup:": "👍", ":+1:": "👍", ":thumbsdown:": "👎", ":heart:": "❤️", ":smile:": "😄", ":joy:": "😂",
  ":tada:": "🎉", ":eyes:": "👀", ":fire:": "🔥", ":white_check_mark:": "✅", ":warning:": "⚠️", ":rocket:": "🚀" };
const emojiOf = (code) => EMOJI[code] || code.replace(/:/g, "");

// initials stands in for an avatar the server does not serve: a letter on a colour that
// depends on the name (classes, not inline styles: the page's policy allows no inline style).
function initials(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return el("span", { class: `avatar initials c${h % 8}`, "aria-hidden": "true" }, (name[0] || "?").toUpperCase());
}

function upsert(m) {
  normalize(m);
  const rid = m.rid;
  const msgs = state.msgs.get(rid);
  state.outbox = state.outbox.filter((o) => o._id !== m._id);
  save();
  if (msgs) {
    const old = msgs.get(m._id);
    m.seqHint = old ? old.seqHint : msgs.size + 1;
    msgs.set(m._id, m);
    if (m.tmid) {
      // The replies seen here count too: the parent's new tcount and the reply may arrive in
      // either order, and the larger of the two is right.
      if (!state.replies.has(m.tmid)) state.replies.set(m.tmid, new Set());
      state.replies.get(m.tmid).add(m._id);
    }
  }
  if (rid === state.current) renderMessages(false);
  if (state.thread && (m.tmid === state.thread._id || m._id === state.thread._id)) renderThread();
}

// ---- sending: an outbox that survives reloads and reconnects, and never sends twice ------------
const newID = () => {
  const abc = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";
  const bytes = crypto.getRandomValues(new Uint8Array(17));
  return Array.from(bytes, (b) => abc[b % abc.length]).join("");
};

async function send(rid, text, tmid) {
  const o = { _id: newID(), rid, msg: text, tsMs: Date.now() };
  if (tmid) o.tmid = tmid;
  state.outbox.push(o);
  save();
  if (rid === state.current) renderMessages(true);
  await flushOne(o);
}

// flushOne sends a queued message with its own _id: a retry of a message the server already
// stored is recognised by that id and not stored twice.
async function flushOne(o) {
  try {
    const message = { _id: o._id, rid: o.rid, msg: o.msg };
    if (o.tmid) message.tmid = o.tmid;
    const res = await api("POST", "/api/v1/chat.sendMessage", { message });
    upsert(res.message);
  } catch (err) {
    if (err.status === undefined || err.status >= 500 || err.status === 429) return; // offline or busy: kept for later
    try {
      const got = await api("GET", "/api/v1/chat.getMessage?" + q({ msgId: o._id }));
      if (got.message) { upsert(got.message); return; } // it had arrived: not sent again
    } catch { /* really refused */ }
    state.outbox = state.outbox.filter((x) => x._id !== o._id);
    save();
    if (o.rid === state.current) renderMessages(false);
    showError(err);
  }
}

async function flushOutbox() {
  for (const o of [...state.outbox]) await flushOne(o);
}

async function editMessage(m) {
  const text = await ask("Edit message", [["text", "Message", m.msg, "textarea"]]);
  if (!text || text.text === m.msg) return;
  try {
    const res = await api("POST", "/api/v1/chat.update", { roomId: m.rid, msgId: m._id, text: text.text });
    upsert(res.message);
  } catch (err) { showError(err); }
}

async function deleteMessage(m) {
  if (!await ask("Delete this message?", [])) return;
  try {
    await api("POST", "/api/v1/chat.delete", { roomId: m.rid, msgId: m._id });
    removeMessage(m.rid, m._id);
  } catch (err) { showError(err); }
}

function removeMessage(rid, id) {
  const msgs = state.msgs.get(rid);
  if (msgs && msgs.delete(id) && rid === state.current) renderMessages(false);
}

async function react(m, emoji) {
  try { await api("POST", "/api/v1/chat.react", { messageId: m._id, emoji }); } catch (err) { showError(err); }
}

// ---- threads ------------------------------------------------------------------------------
async function openThread(m) {
  state.thread = m;
  $("thread").hidden = false;
  try {
    const res = await api("GET", "/api/v1/chat.getThreadMessages?" + q({ tmid: m._id, count: 100 }));
    const msgs = state.msgs.get(m.rid);
    for (const r of res.messages || []) {
      normalize(r);
      if (msgs && !msgs.has(r._id)) msgs.set(r._id, r);
      if (!state.replies.has(m._id)) state.replies.set(m._id, new Set());
      state.replies.get(m._id).add(r._id);
    }
  } catch { /* a server without threads: the parent alone */ }
  renderThread();
  $("thread-text").focus();
}

function renderThread() {
  const m = state.thread;
  const msgs = state.msgs.get(m.rid) || new Map();
  const replies = [...msgs.values()].filter((r) => r.tmid === m._id).sort((a, b) => a.tsMs - b.tsMs);
  $("thread-messages").replaceChildren(renderMessage(msgs.get(m._id) || m, true), ...replies.map((r) => renderMessage(r, true)));
}

// ---- live: DDP ------------------------------------------------------------------------------
function connect() {
  if (state.ddp) return;
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/websocket";
  let wasUp = false;
  state.ddp = new DDP(url, {
    resume: () => state.token,
    onState: (up) => {
      $("conn").classList.toggle("on", up);
      $("conn").title = up ? "live" : "reconnecting…";
      if (up && wasUp) catchUp();
      if (up) { wasUp = true; flushOutbox(); }
    },
    onEvent,
  });
  state.ddp.subscribe("stream-room-messages", "__my_messages__", false);
  for (const ev of ["subscriptions-changed", "rooms-changed", "notification"]) state.ddp.subscribe("stream-notify-user", `${state.uid}/${ev}`, false);
  state.ddp.subscribe("stream-notify-all", "permissions-changed", false);
}

// catchUp reloads what may have changed while the socket was down.
async function catchUp() {
  await loadSubscriptions().catch(() => {});
  const rid = state.current;
  if (!rid) return;
  try {
    const res = await api("GET", `/api/rooms/${encodeURIComponent(rid)}/messages?` + q({ count: PAGE }));
    for (const m of (res.messages || []).reverse()) upsert(m);
  } catch { /* next reconnect */ }
}

function onEvent(collection, name, args) {
  if (collection === "stream-room-messages") {
    const m = args[0];
    if (!m || !m.rid) return;
    if (m._deleted || m.t === "rm") { removeMessage(m.rid, m._id); return; }
    const isNew = !(state.msgs.get(m.rid) || new Map()).has(m._id);
    upsert(m);
    if (isNew && !m.editedAt && m.u && m.u._id !== state.uid) arrived(m);
    return;
  }
  if (collection === "stream-notify-room" && name.endsWith("/deleteMessage")) {
    const rid = name.split("/")[0];
    if (args[0] && args[0]._id) removeMessage(rid, args[0]._id);
    return;
  }
  if (collection === "stream-notify-room" && name.endsWith("/typing")) {
    const rid = name.split("/")[0];
    const [username, on] = args;
    if (username === state.me.username) return;
    const t = state.typing.get(rid) || new Map();
    if (on) t.set(username, Date.now() + 6000); else t.delete(username);
    state.typing.set(rid, t);
    renderTyping();
    return;
  }
  if (collection === "stream-notify-user") {
    if (name.endsWith("/notification")) { notify(args[0]); return; }
    loadSubscriptions().catch(() => {}); // a room added, renamed, left: read the list again
    return;
  }
}

// arrived counts a new message of another room as unread (a mention counts as one too).
function arrived(m) {
  if (m.rid === state.current && !document.hidden) { markRead(m.rid); return; }
  const s = state.subs.get(m.rid);
  if (!s) { loadSubscriptions().catch(() => {}); return; }
  s.unread = (s.unread || 0) + 1;
  if ((m.mentions || []).some((u) => u._id === state.uid || u.username === state.me.username) ||
      new RegExp(`(^|\\W)@${state.me.username}(\\W|$)`).test(m.msg || "")) s.userMentions = (s.userMentions || 0) + 1;
  renderRooms();
}

function notify(n) {
  if (!n || !document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
  new Notification(n.title || "rocketlite", { body: n.text || "", tag: n.payload && n.payload.rid });
}

function renderTyping() {
  const t = state.typing.get(state.current) || new Map();
  const now = Date.now();
  const who = [...t].filter(([, exp]) => exp > now).map(([u]) => u);
  $("typing").textContent = who.length ? `${who.join(", ")} ${who.length === 1 ? "is" : "are"} typing…` : "";
}
setInterval(renderTyping, 2000);

let typingSent = 0;
function typing(on) {
  if (!state.ddp || !state.current) return;
  const now = Date.now();
  if (on && now - typingSent < 3000) return;
  typingSent = on ? now : 0;
  state.ddp.call("stream-notify-room", `${state.current}/typing`, state.me.username, on).catch(() => {});
}

// ---- composer: Enter sends, Shift+Enter is a new line, @ completes names ------------------------------
async function loadUsers() {
  try {
    const res = await api("GET", "/api/v1/users.list?" + q({ count: 500, fields: JSON.stringify({ username: 1, name: 1 }) }));
    state.users = (res.users || []).map((u) => u.username);
  } catch { state.users = []; }
}

function mentionQuery(ta) {
  const before = ta.value.slice(0, ta.selectionStart);
  const m = /(^|\s)@([\w.-]*)$/.exec(before);
  return m ? m[2] : null;
}

function showMentions() {
  const ta = $("text"), list = $("mentions");
  const word = mentionQuery(ta);
  if (word === null) { list.hidden = true; return; }
  const hits = state.users.filter((u) => u.toLowerCase().startsWith(word.toLowerCase()) && u !== state.me.username).slice(0, 6);
  list.replaceChildren(...hits.map((u, i) => el("li", { class: i === 0 ? "sel" : "", onmousedown: (e) => { e.preventDefault(); completeMention(u); } }, "@" + u)));
  list.hidden = hits.length === 0;
}

function completeMention(u) {
  const ta = $("text");
  const before = ta.value.slice(0, ta.selectionStart).replace(/@([\w.-]*)$/, "@" + u + " ");
  ta.value = before + ta.value.slice(ta.selectionStart);
  ta.selectionStart = ta.selectionEnd = before.length;
  $("mentions").hidden = true;
  saveDraft();
}

function saveDraft() {
  if (state.current) localStorage.setItem("rl.draft." + state.current, $("text").value);
}

function composerKeys(e) {
  const list = $("mentions");
  if (!list.hidden && (e.key === "Tab" || (e.key === "Enter" && !e.shiftKey))) {
    const sel = list.querySelector(".sel");
    if (sel) { e.preventDefault(); completeMention(sel.textContent.slice(1)); return; }
  }
  if (e.key === "Escape") list.hidden = true;
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
}

// ---- dialogs, errors ---------------------------------------------------------------------------
function ask(title, fields) {
  const dlg = $("dialog");
  $("dialog-title").textContent = title;
  $("dialog-fields").replaceChildren(...fields.map(([name, label, value, kind]) => {
    const input = kind === "textarea" ? el("textarea", { name, rows: "3" }) : kind === "select"
      ? el("select", { name }, ...value.map((v) => el("option", { value: v }, v)))
      : el("input", { name, type: kind || "text" });
    if (kind !== "select" && value) input.value = value;
    return el("label", {}, label, " ", input);
  }));
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => {
      if (dlg.returnValue !== "ok") return resolve(null);
      const out = {};
      for (const [name] of fields) out[name] = $("dialog-form").elements[name].value;
      resolve(out);
    }, { once: true });
  });
}

function showError(err, where = "room-error") {
  $(where).textContent = err && err.message ? err.message : String(err);
  setTimeout(() => { if ($(where).textContent === (err && err.message)) $(where).textContent = ""; }, 8000);
}

// ---- creating and browsing rooms ----------------------------------------------------------------
async function newRoom() {
  const f = await ask("New room", [["name", "Name", "", "text"], ["kind", "Kind", ["channel (public)", "private group"], "select"], ["members", "Invite (usernames, comma-separated)", "", "text"]]);
  if (!f || !f.name) return;
  const members = f.members.split(",").map((s) => s.trim()).filter(Boolean);
  try {
    const path = f.kind.startsWith("channel") ? "/api/v1/channels.create" : "/api/v1/groups.create";
    const res = await api("POST", path, { name: f.name, members });
    const room = res.channel || res.group;
    await loadSubscriptions();
    openRoom(room._id);
  } catch (err) { showError(err); }
}

async function newDM() {
  const f = await ask("Direct message", [["username", "Username", "", "text"]]);
  if (!f || !f.username) return;
  try {
    const res = await api("POST", "/api/v1/im.create", { username: f.username.replace(/^@/, "") });
    await loadSubscriptions();
    openRoom(res.room._id || res.room.rid);
  } catch (err) { showError(err); }
}

async function browse() {
  try {
    const res = await api("GET", "/api/v1/channels.list?" + q({ count: 100 }));
    const names = (res.channels || []).map((c) => c.name);
    const f = await ask("Join a channel", [["name", "Channel", names, "select"]]);
    if (!f) return;
    const ch = res.channels.find((c) => c.name === f.name);
    if (!state.subs.has(ch._id)) await api("POST", "/api/v1/channels.join", { roomId: ch._id });
    await loadSubscriptions();
    openRoom(ch._id);
  } catch (err) { showError(err); }
}

// ---- administration -----------------------------------------------------------------------------
async function adminTab(tab) {
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("on", b.dataset.tab === tab);
  const body = $("admin-body");
  $("admin-error").textContent = "";
  try {
    if (tab === "perms") body.replaceChildren(await permissionMatrix());
    else if (tab === "users") body.replaceChildren(...await usersAdmin());
    else if (tab === "roles") body.replaceChildren(...await rolesAdmin());
    else if (tab === "rooms-admin") body.replaceChildren(await roomsAdmin());
    else if (tab === "hooks") body.replaceChildren(await hooksAdmin());
    else if (tab === "health") body.replaceChildren(await healthAdmin());
  } catch (err) { showError(err, "admin-error"); }
}

// adminCall makes one administrative request and, when it succeeds and tab is given, redraws
// that tab; a refusal is shown above the tabs.
async function adminCall(tab, method, path, body) {
  try {
    await api(method, path, body);
    if (tab) adminTab(tab);
  } catch (err) { showError(err, "admin-error"); }
}

// headRow is a table's row of column titles.
const headRow = (...titles) => el("tr", {}, ...titles.map((t) => el("th", {}, t)));

async function permissionMatrix() {
  const [perms, roles] = await Promise.all([api("GET", "/api/v1/permissions.listAll"), api("GET", "/api/v1/roles.list")]);
  const names = roles.roles.map((r) => r._id || r.name);
  const table = el("table", { id: "perm-matrix" },
    el("tr", {}, el("th", {}, "permission"), ...names.map((n) => el("th", { class: "rot" }, n))));
  for (const p of perms.update || perms.permissions || []) {
    table.append(el("tr", {}, el("th", {}, p._id), ...names.map((role) => {
      const box = el("input", { type: "checkbox", "aria-label": `${p._id} for ${role}`, dataset: { perm: p._id, role } });
      box.checked = p.roles.includes(role);
      box.addEventListener("change", async () => {
        const next = box.checked ? [...new Set([...p.roles, role])] : p.roles.filter((r) => r !== role);
        try {
          await api("POST", "/api/v1/permissions.update", { permissions: [{ _id: p._id, roles: next }] });
          p.roles = next;
        } catch (err) { box.checked = !box.checked; showError(err, "admin-error"); }
      });
      return el("td", {}, box);
    })));
  }
  return table;
}

async function usersAdmin() {
  const res = await api("GET", "/api/v1/users.list?" + q({ count: 200 }));
  const form = el("form", {},
    el("input", { name: "username", placeholder: "username", required: true }),
    el("input", { name: "email", placeholder: "e-mail", type: "email", required: true }),
    el("input", { name: "password", placeholder: "password", type: "password", required: true }),
    el("input", { name: "roles", placeholder: "roles (user,bot…)" }),
    el("button", {}, "Create user"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = form.elements;
    adminCall("users", "POST", "/api/v1/users.create", { username: f.username.value, name: f.username.value, email: f.email.value, password: f.password.value,
      roles: f.roles.value ? f.roles.value.split(",").map((s) => s.trim()) : undefined });
  });
  const table = el("table", {}, headRow("user", "roles", "status", ""));
  for (const u of res.users || []) {
    table.append(el("tr", {}, el("td", {}, u.username), el("td", {}, (u.roles || []).join(", ")), el("td", {}, u.active === false ? "deactivated" : (u.status || "")),
      el("td", {},
        el("button", { type: "button", onclick: () => setActive(u, u.active === false) }, u.active === false ? "Activate" : "Deactivate"), " ",
        el("button", { type: "button", onclick: () => resetPassword(u) }, "Password"), " ",
        el("button", { type: "button", onclick: () => editRoles(u) }, "Roles"))));
  }
  return [form, table];
}

function setActive(u, active) {
  return adminCall("users", "POST", "/api/v1/users.update", { userId: u._id, data: { active } });
}
async function resetPassword(u) {
  const f = await ask(`New password for ${u.username}`, [["password", "Password", "", "password"]]);
  if (!f || !f.password) return;
  await adminCall("", "POST", "/api/v1/users.update", { userId: u._id, data: { password: f.password } });
}
async function editRoles(u) {
  const f = await ask(`Roles of ${u.username}`, [["roles", "Roles, comma-separated", (u.roles || []).join(","), "text"]]);
  if (!f) return;
  await adminCall("users", "POST", "/api/v1/users.update", { userId: u._id, data: { roles: f.roles.split(",").map((s) => s.trim()).filter(Boolean) } });
}

async function rolesAdmin() {
  const res = await api("GET", "/api/v1/roles.list");
  const form = el("form", {}, el("input", { name: "name", placeholder: "role name", required: true }), el("input", { name: "description", placeholder: "description" }), el("button", {}, "Create role"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    adminCall("roles", "POST", "/api/roles", { name: form.elements.name.value, description: form.elements.description.value });
  });
  const table = el("table", {}, headRow("role", "scope", "description", ""));
  for (const r of res.roles || []) {
    const name = r._id || r.name;
    table.append(el("tr", {}, el("td", {}, name), el("td", {}, r.scope || ""), el("td", {}, r.description || ""),
      el("td", {}, r.protected ? "" : el("button", { type: "button", onclick: () => adminCall("roles", "DELETE", "/api/roles/" + encodeURIComponent(name)) }, "Delete"))));
  }
  return [form, table];
}

async function roomsAdmin() {
  const [c, g] = await Promise.all([api("GET", "/api/v1/channels.list?" + q({ count: 200 })), api("GET", "/api/v1/groups.listAll?" + q({ count: 200 })).catch(() => ({ groups: [] }))]);
  const table = el("table", {}, headRow("room", "type", "messages", ""));
  for (const r of [...(c.channels || []), ...(g.groups || [])]) {
    const kind = r.t === "p" ? "groups" : "channels";
    table.append(el("tr", {}, el("td", {}, r.name), el("td", {}, r.t), el("td", {}, String(r.msgs || 0)), el("td", {},
      el("button", { type: "button", onclick: () => roomAction(kind, r.archived ? "unarchive" : "archive", r) }, r.archived ? "Unarchive" : "Archive"), " ",
      el("button", { type: "button", onclick: async () => { if (await ask(`Delete ${r.name} and its messages?`, [])) roomAction(kind, "delete", r); } }, "Delete"), " ",
      el("button", { type: "button", onclick: async () => {
        const f = await ask(`New owner of ${r.name}`, [["username", "Username", "", "text"]]);
        if (!f) return;
        try {
          const u = await api("GET", "/api/v1/users.info?" + q({ username: f.username }));
          await api("POST", `/api/v1/${kind}.addOwner`, { roomId: r._id, userId: u.user._id });
        } catch (err) { showError(err, "admin-error"); }
      } }, "Owner"))));
  }
  return table;
}

function roomAction(kind, action, r) {
  return adminCall("rooms-admin", "POST", `/api/v1/${kind}.${action}`, { roomId: r._id });
}

async function hooksAdmin() {
  const box = el("div", {});
  let res;
  try { res = await api("GET", "/api/v1/integrations.list?" + q({ count: 100 })); } catch (err) { box.append(el("p", {}, err.message)); return box; }
  const form = el("form", {}, el("input", { name: "username", placeholder: "post as (username)", required: true }), el("input", { name: "channel", placeholder: "#room or @user", required: true }), el("input", { name: "name", placeholder: "name" }), el("button", {}, "New incoming webhook"));
  const shown = el("p", { class: "url" });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await api("POST", "/api/v1/integrations.create", { type: "webhook-incoming", enabled: true, scriptEnabled: false, username: form.elements.username.value, channel: form.elements.channel.value, name: form.elements.name.value });
      shown.textContent = "Its URL, shown only now: " + r.url;
    } catch (err) { showError(err, "admin-error"); }
  });
  const table = el("table", {}, headRow("name", "type", "user", "channels", ""));
  for (const h of res.integrations || []) {
    table.append(el("tr", {}, el("td", {}, h.name || ""), el("td", {}, h.type), el("td", {}, h.username), el("td", {}, (h.channel || []).join(", ")), el("td", {},
      el("button", { type: "button", onclick: () => adminCall("hooks", "POST", "/api/v1/integrations.remove", { type: h.type, integrationId: h._id }) }, "Remove"))));
  }
  box.append(form, shown, table);
  return box;
}

async function healthAdmin() {
  const res = await fetch("/readyz", { cache: "no-store" });
  const data = await res.json().catch(() => ({}));
  const rows = Object.entries(data).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, typeof v === "object" ? JSON.stringify(v) : String(v))));
  return el("table", {}, ...rows);
}

// ---- wiring ------------------------------------------------------------------------------------
function applyTheme(t) {
  if (t) document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
}

function init() {
  load();
  applyTheme(localStorage.getItem("rl.theme"));
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    try { await login($("login-user").value.trim(), $("login-pass").value); $("login-pass").value = ""; } catch (err) { $("login-error").textContent = err.message; }
  });
  $("composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("text").value;
    if (!text.trim() || !state.current) return;
    $("text").value = "";
    saveDraft();
    typing(false);
    await send(state.current, text);
  });
  $("text").addEventListener("keydown", composerKeys);
  $("text").addEventListener("input", () => { saveDraft(); showMentions(); typing(true); });
  $("thread-composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("thread-text").value;
    if (!text.trim() || !state.thread) return;
    $("thread-text").value = "";
    await send(state.thread.rid, text, state.thread._id);
  });
  $("thread-text").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("thread-composer").requestSubmit(); } });
  $("thread-close").addEventListener("click", () => { $("thread").hidden = true; state.thread = null; });
  $("messages").addEventListener("scroll", () => { if ($("messages").scrollTop < 80 && state.current) loadOlder(state.current); });
  $("logout").addEventListener("click", logout);
  $("theme").addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme ? document.documentElement.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
    const next = dark ? "light" : "dark";
    localStorage.setItem("rl.theme", next);
    applyTheme(next);
  });
  $("new-room").addEventListener("click", newRoom);
  $("new-dm").addEventListener("click", newDM);
  $("browse").addEventListener("click", browse);
  $("back").addEventListener("click", () => $("app").classList.add("show-rooms"));
  $("admin-open").addEventListener("click", () => { $("admin").hidden = false; $("room").hidden = true; adminTab("users"); });
  $("admin-close").addEventListener("click", () => { $("admin").hidden = true; $("room").hidden = false; });
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => adminTab(b.dataset.tab));
  document.addEventListener("visibilitychange", () => { if (!document.hidden && state.current) markRead(state.current); });
  window.addEventListener("online", () => flushOutbox());
  if ("Notification" in window && Notification.permission === "default") {
    document.addEventListener("click", () => Notification.requestPermission().catch(() => {}), { once: true });
  }
  if (state.token) start().catch((err) => { $("login").hidden = false; $("login-error").textContent = err.message; });
  else $("login").hidden = false;
  // Restore the draft of the room that opens.
  const restore = () => { if (state.current) $("text").value = localStorage.getItem("rl.draft." + state.current) || ""; };
  new MutationObserver(restore).observe($("room-name"), { childList: true });
}

window.rocketlite = { state }; // for the browser tests and the curious
init();
