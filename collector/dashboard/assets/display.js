// Turning the API's JSON into text people read. The HTTP API renders
// protobuf JSON (bytes as base64, 64-bit numbers as strings, enums by
// name); the live feed's events are the collector's event JSON (keys as
// readable text, times in RFC 3339). Both are read here.

// displayBytes shows key bytes as the collector's fact.Display does:
// valid UTF-8 as is but a backslash doubled, ASCII controls and bytes that
// are not UTF-8 as \xNN, and invisible or direction-changing characters
// (format, line and paragraph separators, C1 controls) as \uNNNN.
export function displayBytes(bytes) {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      if (b === 0x5c) out += '\\\\';
      else if (b < 0x20 || b === 0x7f) out += hex2(b);
      else out += String.fromCharCode(b);
      i++;
      continue;
    }
    const [cp, n] = utf8At(bytes, i);
    if (n === 0) {
      out += hex2(b);
      i++;
      continue;
    }
    const ch = String.fromCodePoint(cp);
    out += invisible.test(ch) ? `\\u${cp.toString(16).padStart(4, '0')}` : ch;
    i += n;
  }
  return out;
}

const invisible = /^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]$/u;

function hex2(b) {
  return `\\x${b.toString(16).padStart(2, '0')}`;
}

// utf8At decodes one well-formed UTF-8 sequence at i: [code point, length],
// or [0, 0] if the bytes there are not one.
function utf8At(s, i) {
  const b = s[i];
  let n, cp, min;
  if (b >= 0xc2 && b <= 0xdf) { n = 2; cp = b & 0x1f; min = 0x80; }
  else if (b >= 0xe0 && b <= 0xef) { n = 3; cp = b & 0x0f; min = 0x800; }
  else if (b >= 0xf0 && b <= 0xf4) { n = 4; cp = b & 0x07; min = 0x10000; }
  else return [0, 0];
  if (i + n > s.length) return [0, 0];
  for (let j = 1; j < n; j++) {
    const c = s[i + j];
    if ((c & 0xc0) !== 0x80) return [0, 0];
    cp = (cp << 6) | (c & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return [0, 0];
  return [cp, n];
}

// fromBase64 decodes protobuf JSON bytes (standard or URL alphabet).
export function fromBase64(s) {
  if (!s) return new Uint8Array();
  const std = s.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(std + '='.repeat((4 - (std.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// keyText shows a protobuf JSON bytes key.
export function keyText(b64) {
  return displayBytes(fromBase64(b64));
}

// hexOf shows protobuf JSON bytes (a digest) as hex.
export function hexOf(b64) {
  return Array.from(fromBase64(b64), (b) => b.toString(16).padStart(2, '0')).join('');
}

// enumName turns an enum value (its full name, or its number with names,
// a list indexed by number) into its short lower-case name:
// enumName('FACT_KIND_FILE', 'FACT_KIND_') is "file".
export function enumName(v, prefix, names) {
  if (typeof v === 'number') v = names?.[v] ?? String(v);
  if (v === undefined || v === null || v === '') return '';
  v = String(v);
  if (v.startsWith(prefix)) v = v.slice(prefix.length);
  return v === 'UNSPECIFIED' ? '' : v.toLowerCase();
}

export const kinds = ['unspecified', 'file', 'package', 'conffile', 'kernel', 'kmod', 'sysctl', 'health', 'expectation'];
export const kindName = (v) => enumName(v, 'FACT_KIND_', kinds.map((k) => `FACT_KIND_${k.toUpperCase()}`));
export const severityName = (v) => enumName(v, 'SEVERITY_', ['', 'SEVERITY_INFO', 'SEVERITY_WARNING', 'SEVERITY_CRITICAL']);
export const changeName = (v) => enumName(v, 'DRIFT_CHANGE_', ['', 'DRIFT_CHANGE_ADDED', 'DRIFT_CHANGE_MODIFIED', 'DRIFT_CHANGE_REMOVED']);
export const statusName = (v) => enumName(v, 'DRIFT_STATUS_', ['', 'DRIFT_STATUS_OPEN', 'DRIFT_STATUS_RESOLVED', 'DRIFT_STATUS_ACCEPTED']);
const fileTypes = ['', 'REGULAR', 'DIRECTORY', 'SYMLINK', 'FIFO', 'SOCKET', 'CHAR_DEVICE', 'BLOCK_DEVICE'];
export const fileTypeName = (v) => enumName(v, 'FILE_TYPE_', fileTypes.map((t) => `FILE_TYPE_${t}`));
export const contentStateName = (v) => enumName(v, 'CONTENT_STATE_', ['', 'CONTENT_STATE_DIFF', 'CONTENT_STATE_FIRST', 'CONTENT_STATE_TOO_LARGE', 'CONTENT_STATE_BINARY']);

// num reads a protobuf JSON number (64-bit ones come as strings).
export function num(v) {
  if (v === undefined || v === null || v === '') return 0;
  return Number(v);
}

// nanoToDate turns unix nanoseconds (number or string) into a Date, or null.
export function nanoToDate(v) {
  if (v === undefined || v === null || v === '' || v === '0' || v === 0) return null;
  try {
    return new Date(Number(BigInt(v) / 1000000n));
  } catch {
    return null;
  }
}

// timeText shows a Date (or RFC 3339 text) as local date and time.
export function timeText(d) {
  if (typeof d === 'string') d = d ? new Date(d) : null;
  if (!d || Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(undefined, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

// ago shows how long before now d was: "12 s ago", "3 min ago".
export function ago(d, now = Date.now()) {
  if (!d) return 'never';
  const s = Math.max(0, Math.round((now - d.getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// attributes flattens a protobuf JSON Fact's typed attributes into
// [name, text] pairs, as the collector's event JSON names them.
export function attributes(f) {
  if (!f) return [];
  const out = [];
  const add = (k, v) => out.push([k, v === undefined || v === null ? '' : String(v)]);
  if (f.file) {
    const a = f.file;
    const type = fileTypeName(a.type);
    add('type', type);
    add('mode', (num(a.mode)).toString(8).padStart(4, '0'));
    add('uid', num(a.uid));
    add('gid', num(a.gid));
    if (type === 'regular') {
      add('size', num(a.size));
      add('sha256', hexOf(a.sha256));
    }
    if (type === 'symlink') add('link_target', keyText(a.link_target ?? a.linkTarget));
    const mt = nanoToDate(a.mtime_unix_nano ?? a.mtimeUnixNano);
    if (mt) add('mtime', mt.toISOString());
  } else if (f.package) {
    add('version', f.package.version ?? '');
    add('arch', f.package.arch ?? '');
    add('manager', f.package.manager ?? '');
  } else if (f.conffile) {
    const c = f.conffile;
    add('package', c.package ?? '');
    add('algorithm', c.algorithm ?? '');
    add('digest', hexOf(c.digest));
    add('present', Boolean(c.present));
    add('matches', Boolean(c.matches));
  } else if (f.value) {
    add('value', f.value.value ?? '');
  } else if (f.kmod) {
    add('size', num(f.kmod.size));
  }
  return out;
}

// volatile attributes are context, not configuration: shown, never
// marked as drift.
export const volatileAttrs = new Set(['mtime']);

// content returns a protobuf JSON Fact's file content change, or null.
export function content(f) {
  const c = f?.file?.content;
  if (!c) return null;
  return {
    state: contentStateName(c.state),
    diff: c.unified_diff ?? c.unifiedDiff ?? '',
    redacted: Boolean(c.redacted),
  };
}
