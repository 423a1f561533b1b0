// The collector's HTTP/JSON API, called with the person's API token.
// The token lives in this tab's sessionStorage only: never in a URL, a
// cookie or localStorage, so it leaves with the tab and is never sent
// anywhere but in the Authorization header of calls to this collector.

const tokenKey = 'plumb.token';

export function token() {
  return sessionStorage.getItem(tokenKey) ?? '';
}

export function setToken(t) {
  sessionStorage.setItem(tokenKey, t);
}

export function forgetToken() {
  sessionStorage.removeItem(tokenKey);
}

// APIError is a refused or failed call: status is the HTTP status (0 when
// the collector could not be reached), message what the collector said.
export class APIError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }

  // explain says what went wrong in words for the person at the screen.
  explain(what) {
    switch (this.status) {
      case 0: return `Could not reach the collector to ${what}: ${this.message}`;
      case 401: return `The collector did not accept your API token (${this.message}). Sign in again.`;
      case 403: return `Refused: your API token may not ${what}. ${this.message}`;
      case 404: return `Not found: ${this.message}`;
      case 412: case 409: return `Refused: ${this.message}`;
      default: return `Could not ${what} (HTTP ${this.status}): ${this.message}`;
    }
  }
}

// onUnauthenticated is called when a call is refused with 401 (set by app).
let unauthenticated = () => {};
export function onUnauthenticated(fn) {
  unauthenticated = fn;
}

// call sends one API request: path with query parameters (params; empty
// values are left out) and, for POST, a JSON body. It returns the parsed
// JSON reply or throws an APIError.
export async function call(path, { method = 'GET', params, body, signal } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v !== undefined && v !== null && v !== '' && v !== false) url.searchParams.set(k, String(v));
  }
  const headers = { Accept: 'application/json', Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(url, {
      method, headers, signal,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', cache: 'no-store', redirect: 'error',
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, e.message);
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const msg = (data && (data.message ?? data.error)) || text.slice(0, 300) || resp.statusText;
    const err = new APIError(resp.status, String(msg), data?.code);
    if (resp.status === 401) unauthenticated(err);
    throw err;
  }
  if (data === null) throw new APIError(resp.status, 'the reply was not JSON');
  return data;
}

// pages calls a list method page after page (page_size, page_token ->
// next_page_token), handing each page's items (field) to onPage as it
// arrives, until the last page or until onPage returns false. A collector
// that does not page answers everything at once, without a token.
// start is the page token to begin at (empty: the first page); pages
// returns the token of the page after the last one read (empty: none).
export async function pages(path, field, { params, pageSize = 500, signal, start = '' } = {}, onPage) {
  let pageToken = start;
  for (;;) {
    const data = await call(path, { params: { ...params, page_size: pageSize, page_token: pageToken }, signal });
    const more = await onPage(data[field] ?? [], data);
    pageToken = data.next_page_token ?? data.nextPageToken ?? '';
    if (!pageToken || more === false) return pageToken;
  }
}

// Paths of the API methods the pages use.
export const paths = {
  hosts: '/v1/hosts',
  facts: (host) => `/v1/hosts/${encodeURIComponent(host)}/facts`,
  drift: '/v1/drift',
  driftItem: (id) => `/v1/drift/${encodeURIComponent(id)}`,
  accept: (host) => `/v1/hosts/${encodeURIComponent(host)}/drift:accept`,
  watch: '/v1/drift:watch',
};
