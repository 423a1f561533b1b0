// Building the DOM without HTML: every string becomes a text node, so
// nothing that came from a host is ever parsed as markup.

// h creates an element. attrs: plain attributes, plus "class", "hidden",
// "on<event>" handlers and "dataset"; children: nodes, strings (text),
// null/undefined/false (skipped) or arrays of these.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'hidden' || k === 'disabled' || k === 'checked' || k === 'required') {
      el[k] = Boolean(v);
    } else if (k === 'value') {
      el.value = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

// append adds children (as for h) to el.
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// clear removes every child of el.
export function clear(el) {
  el.replaceChildren();
  return el;
}

// link is an anchor to a dashboard page (a #fragment).
export function link(hash, ...children) {
  return h('a', { href: hash }, ...children);
}

// message is a notice line: kind is "error", "info" or "ok".
export function message(kind, ...children) {
  return h('p', { class: `msg msg-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...children);
}
