// The job service's API as the portal uses it: same-origin requests with
// the session cookie; a 401 anywhere sends the user back to the login view.

/** An API answer that was not a success, with the API's code and words. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export async function errorFrom(status, text) {
  try {
    const e = JSON.parse(text).error;
    if (e && e.message) return new ApiError(status, e.code, e.message);
  } catch { /* not JSON: fall through */ }
  return new ApiError(status, 'http', `The server could not answer (error ${status}). Try again in a moment.`);
}

/** The logged-in account, or null for a visitor; never redirects. */
export async function whoami() {
  try {
    const res = await fetch('/v1/account', { credentials: 'same-origin' });
    return res.ok ? res.json() : null;
  } catch {
    return null;
  }
}

export async function api(path, { method = 'GET', body, raw = false } = {}) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached; check the connection.');
  }
  if (res.status === 401 && !path.startsWith('/v1/auth/')) {
    onUnauthorized();
    throw new ApiError(401, 'auth.required', 'Your session has ended; please log in again.');
  }
  if (!res.ok) throw await errorFrom(res.status, await res.text());
  if (raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') || '';
  return type.includes('json') ? res.json() : res.text();
}

/**
 * Uploads a file, reporting progress; resolves to the upload's JSON.
 * `direct` sends it by a presigned PUT straight to storage, then completes
 * it through the API; otherwise it is the raw body of POST /v1/uploads.
 * `abort()` on the returned handle cancels it.
 */
export function uploadFile(file, onProgress, direct = false) {
  const xhr = new XMLHttpRequest();
  let aborted = false;
  const send = (method, url, headers) => new Promise((resolve, reject) => {
    const started = performance.now();
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const secs = Math.max((performance.now() - started) / 1000, 0.001);
      onProgress({ loaded: e.loaded, total: e.total, bytesPerSec: e.loaded / secs });
    };
    xhr.onload = async () => {
      if (xhr.status === 401) {
        onUnauthorized();
        reject(new ApiError(401, 'auth.required', 'Your session has ended; please log in again.'));
      } else if (xhr.status >= 200 && xhr.status < 300) {
        resolve(xhr.responseText);
      } else {
        reject(await errorFrom(xhr.status, xhr.responseText));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload failed; check the connection.'));
    xhr.onabort = () => reject(new ApiError(0, 'cancelled', 'upload cancelled'));
    xhr.open(method, url);
    for (const [k, v] of headers) xhr.setRequestHeader(k, v);
    xhr.send(file);
  });
  const done = (async () => {
    if (!direct) {
      const body = await send('POST', '/v1/uploads', [['Content-Type', 'application/octet-stream'], ['X-Filename', file.name]]);
      return JSON.parse(body);
    }
    const p = await api('/v1/uploads/presign', { method: 'POST', body: { filename: file.name } });
    if (aborted) throw new ApiError(0, 'cancelled', 'upload cancelled');
    await send(p.put.method, p.put.url, p.put.headers);
    return api(p.complete, { method: 'POST', body: { filename: file.name } });
  })();
  return { done, abort: () => { aborted = true; xhr.abort(); } };
}
