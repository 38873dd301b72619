// api.js: the admin page's only way to the server — JSON calls to /api/infrastructure/*
// with the signed-in token, and the errors they end in.
//
// Every failure becomes an ApiError carrying the server's {error: {message, hint,
// requestId}} (or a description of a network failure), so that callers can show it and
// never fail silently. Two failures concern the whole page and are also reported to the
// listeners set with onSessionEnded (401: the token is no longer valid) and
// onRateLimited (429: this address made too many requests; polling must wait).
// Shared state: the token, kept only in sessionStorage (this browser tab's; a reload
// keeps the session, closing the tab ends it) and read for every call, and the two
// listeners; the page is single-threaded, so no locking.

const API_BASE = '/api/infrastructure';
const TOKEN_KEY = 'infra_ext.admin.token';

let sessionEndedListener = () => {};
let rateLimitedListener = () => {};

export class ApiError extends Error {
    constructor({ status, code, message, hint, requestId, retryAfter }) {
        super(message);
        this.status = status;
        this.code = code;
        this.hint = hint || '';
        this.requestId = requestId || '';
        this.retryAfter = retryAfter || 0;
    }
}

export function currentToken() {
    return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
    if (value) {
        sessionStorage.setItem(TOKEN_KEY, value);
    } else {
        sessionStorage.removeItem(TOKEN_KEY);
    }
}

export function onSessionEnded(listener) {
    sessionEndedListener = listener;
}

export function onRateLimited(listener) {
    rateLimitedListener = listener;
}

// The error a response stands for: the server's error object when it sent one, else
// the HTTP status in words.
function errorOf(response, text) {
    let body = null;
    try {
        body = JSON.parse(text);
    } catch {
        // not JSON: described below
    }
    const e = body && body.error;
    const retryAfter = Number(response.headers.get('Retry-After')) || 0;
    const requestId = (e && e.requestId) || response.headers.get('X-Request-Id') || '';
    if (e && typeof e === 'object') {
        return new ApiError({
            status: response.status,
            code: e.code || 'error',
            message: e.message || `the request failed (HTTP ${response.status})`,
            hint: e.hint,
            requestId,
            retryAfter,
        });
    }
    const message =
        typeof e === 'string'
            ? e
            : `the server answered HTTP ${response.status} ${response.statusText}`.trim();
    return new ApiError({ status: response.status, code: 'http_' + response.status, message,
                          requestId, retryAfter });
}

// One call. body (POST only) is sent as JSON; a POST without fields sends {} so that
// the request always has a length. Resolves to the parsed JSON answer.
export async function call(method, path, body) {
    const headers = { Accept: 'application/json' };
    const token = currentToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, cache: 'no-store' };
    if (method !== 'GET') {
        headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body ?? {});
    }
    let response;
    try {
        response = await fetch(API_BASE + path, init);
    } catch (networkError) {
        throw new ApiError({
            status: 0,
            code: 'network',
            message: `the server cannot be reached (${networkError.message})`,
            hint: 'Check that infra_httpd is running and reachable, then try again.',
        });
    }
    const text = await response.text();
    if (!response.ok) {
        const error = errorOf(response, text);
        if (response.status === 401) sessionEndedListener(error);
        if (response.status === 429) rateLimitedListener(error);
        throw error;
    }
    try {
        return JSON.parse(text);
    } catch {
        throw new ApiError({
            status: response.status,
            code: 'not_json',
            message: `the server's answer to ${method} ${path} is not JSON`,
            requestId: response.headers.get('X-Request-Id'),
        });
    }
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);

// The path segment for an address or CIDR range, as the API's routes match it
// (198.51.100.7, 2001:db8::1, 198.51.100.0/24). Anything else is refused here, before
// it can become a different path (a "/" or ".." would change the route).
export function networkPath(text) {
    const value = text.trim();
    const match = /^([0-9A-Fa-f:.]+)(?:\/(\d{1,3}))?$/.exec(value);
    if (!match || value.includes('..') || !/[0-9A-Fa-f]/.test(match[1])) {
        throw new ApiError({
            status: 0,
            code: 'invalid_address',
            message: `"${value}" is not an IP address or CIDR range`,
            hint: 'Write an address such as 198.51.100.7 or 2001:db8::7, ' +
                  'or a range such as 198.51.100.0/24.',
        });
    }
    return encodeURIComponent(match[1]) + (match[2] !== undefined ? '/' + match[2] : '');
}
