// Message text to DOM nodes. Messages are untrusted: text becomes text nodes, never HTML.
// A small safe subset is shown: http(s) links, `code`, *bold* and _italic_, built with
// createElement, so no user text is ever parsed as markup.

const token = /(https?:\/\/[^\s<>"']+)|`([^`\n]+)`|\*([^*\n]+)\*|(?<![\w])_([^_\n]+)_(?![\w])/g;

export function formatText(text, doc = document) {
  const frag = doc.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(token)) {
    if (m.index > last) frag.append(doc.createTextNode(text.slice(last, m.index)));
    let el;
    if (m[1]) {
      el = doc.createElement("a");
      el.href = m[1];
      el.rel = "noopener noreferrer nofollow";
      el.target = "_blank";
      el.textContent = m[1];
    } else if (m[2] !== undefined) {
      el = doc.createElement("code");
      el.textContent = m[2];
    } else if (m[3] !== undefined) {
      el = doc.createElement("strong");
      el.textContent = m[3];
    } else {
      el = doc.createElement("em");
      el.textContent = m[4];
    }
    frag.append(el);
    last = m.index + m[0].length;
  }
  if (last < text.length) frag.append(doc.createTextNode(text.slice(last)));
  return frag;
}

// systemText renders a system message the way Rocket.Chat's clients do.
export function systemText(m) {
  const who = (m.u && m.u.username) || "someone";
  switch (m.t) {
    case "uj": return `${who} joined`;
    case "ul": return `${who} left`;
    case "au": return `${who} added ${m.msg}`;
    case "ru": return `${who} removed ${m.msg}`;
    case "r": return `${who} renamed the room to ${m.msg}`;
    case "room_changed_topic": return `${who} changed the topic to: ${m.msg}`;
    case "room_changed_description": return `${who} changed the description to: ${m.msg}`;
    case "room_changed_announcement": return `${who} changed the announcement to: ${m.msg}`;
    case "room-archived": return `${who} archived the room`;
    case "room-unarchived": return `${who} unarchived the room`;
    case "message_pinned": return `${who} pinned a message`;
    case "subscription-role-added": return `${who} gave ${m.msg} the role ${m.role || ""}`.trim();
    case "subscription-role-removed": return `${who} took the role ${m.role || ""} from ${m.msg}`.replace("  ", " ");
    case "rm": return "message removed";
    default: return m.msg ? `${who}: ${m.msg}` : `${who} (${m.t})`;
  }
}
