// Every call the dashboard makes to the API, and the one shape its failures take. The API
// answers errors as {"error": CODE, "message": …, "field"?}; those become an ApiError.

/** A failed call: the HTTP status, the API's error code, message and field, and the body. */
export class ApiError extends Error {
  constructor(status, code, message, field, body = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.body = body;
  }
}

/**
 * Calls the API: `body` is sent as JSON. Resolves to {status, headers, data}; rejects with an
 * ApiError for any non-2xx answer or a network failure (status 0).
 */
export async function call(method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "unreachable", `the API did not answer (${err.message})`);
  }
  const data = await readBody(response);
  if (response.status === 401) loggedOut();
  if (!response.ok) {
    const code = data && data.error ? data.error : `http_${response.status}`;
    const message = data && data.message ? data.message : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, code, message, data && data.field, data);
  }
  return { status: response.status, headers: response.headers, data };
}

async function readBody(response) {
  const type = response.headers.get("content-type") || "";
  if (!type.includes("json")) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/** GET, resolving to the body. */
export async function get(path) {
  return (await call("GET", path)).data;
}

/** POST a JSON body, resolving to the response body. */
export async function post(path, body) {
  return (await call("POST", path, { body })).data;
}

/**
 * GET a route the running API may not have yet (an older API): null on a 404 or 405 instead
 * of an error, so the page shows "—" for it.
 */
export async function optional(path) {
  try {
    return await get(path);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return null;
    throw err;
  }
}

let documented = null;

/**
 * Whether the API has `path` (as its OpenAPI document spells it, e.g. "/debug/workers"): the
 * pages ask before they poll a route an older API may lack, so that no request ends in a 404
 * (which the browser's console would show on every poll).
 */
export async function hasRoute(path) {
  documented ??= get("/openapi.json").then((doc) => new Set(Object.keys(doc.paths || {}))).catch(() => new Set());
  return (await documented).has(path);
}

/** The admin cookie expired or was cleared while the page was open: log in again. */
function loggedOut() {
  if (!location.pathname.startsWith("/login")) location.assign("/login");
}

/** Path segment, escaped. */
export const seg = encodeURIComponent;
