// app.js: the admin page's entry point — sign-in with an API token (GET /whoami gives
// the role), the tabs, and when each panel's data is fetched.
//
// The guard counts this page's requests like anyone else's (by default 100 a minute and
// 1000 an hour per address, static files included; going over earns strikes towards an
// automatic block), so the page spends few:
//   - the guard's statistics every 5 s (the traffic chart needs every sample): 12/min;
//   - the visible tab's lists when it is shown (unless fetched in the last 15 s) and
//     every 60 s; after an action, only the list it changed;
//   - the jobs while any is queued or running: every 2 s for the first 10 s, then every
//     5 s; when one ends, the visible tab's lists that show its outcome;
//   - after 5 minutes without a key press or mouse movement ("idle"), statistics every
//     30 s and lists every 2 minutes (a page left open all day must not use up the
//     hourly limit: 12 + 3 requests a minute would be 900 an hour); any input resumes;
//   - nothing while the browser tab is hidden, and nothing until Retry-After has passed
//     after a 429.
// Errors of background refreshes go to the banner; a 401 signs out with its message.
// Shared state: the session (signedIn), the timers, each tab's last refresh, the jobs
// being watched and the pause after a 429.

import { get, currentToken, setToken, onSessionEnded, onRateLimited } from './js/api.js';
import { redrawVisibleCharts } from './js/chart.js';
import {
    applyGrants, byId, errorContent, formatDateTime, formatSeconds, setGrants, showError,
} from './js/dom.js';
import { createDdosPanel } from './js/ddos.js';
import { createBackupsPanel } from './js/backups.js';
import { createPitrPanel } from './js/pitr.js';
import { createAuditPanel } from './js/audit.js';

const STATS_INTERVAL_MS = 5000;
const PANEL_INTERVAL_MS = 60000;
const IDLE_AFTER_MS = 5 * 60000;
const IDLE_STATS_INTERVAL_MS = 30000;
const IDLE_PANEL_INTERVAL_MS = 120000;
const PANEL_FRESH_MS = 15000;
const JOBS_FAST_INTERVAL_MS = 2000;
const JOBS_SLOW_INTERVAL_MS = 5000;
const JOBS_FAST_FOR_MS = 10000;
const TABS = ['ddos', 'backups', 'pitr', 'audit'];

let signedIn = false;
let currentTab = 'ddos';
let pausedUntil = 0;
let statsTimer = 0;
let panelTimer = 0;
let jobsTimer = 0;
let jobsWatchStarted = 0;
let activeJobIds = null;
let refreshOwed = false;
let lastInput = Date.now();
const refreshedAt = {};

// ---- banner -------------------------------------------------------------------------------

let bannerSource = '';

function showBanner(error, source = 'refresh') {
    byId('banner-text').replaceChildren(...errorContent(error));
    byId('banner').hidden = false;
    bannerSource = source;
}

function clearBanner(source) {
    if (source && bannerSource !== source) return;
    byId('banner').hidden = true;
    bannerSource = '';
}

function reportError(error) {
    if (error?.status === 401) return;  // the sign-in page says it
    if (error?.status === 429) return;  // the rate-limit banner says it
    showBanner(error);
}

// ---- refreshing -------------------------------------------------------------------------------

const panels = {};

function paused() {
    return !signedIn || document.hidden || Date.now() < pausedUntil;
}

function idle() {
    return Date.now() - lastInput > IDLE_AFTER_MS;
}

function markRefreshed() {
    const time = formatDateTime(new Date().toISOString()).slice(11);
    byId('refresh-state').textContent = `updated ${time}${idle() ? ' · idle: every 30 s' : ''}`;
}

// Input after an idle spell: back to the normal pace at once.
function noteInput() {
    const wasIdle = idle();
    lastInput = Date.now();
    if (wasIdle && signedIn) {
        refreshStats();
        refreshPanel({ onlyIfStale: true });
    }
}

async function refreshStats() {
    clearTimeout(statsTimer);
    if (!paused()) {
        try {
            await panels.ddos.refreshStats();
            markRefreshed();
            clearBanner('refresh');
        } catch (error) {
            reportError(error);
        }
    }
    const interval = idle() ? IDLE_STATS_INTERVAL_MS : STATS_INTERVAL_MS;
    if (signedIn) statsTimer = setTimeout(refreshStats, interval);
}

// Refreshes the visible tab's lists (unless only stale ones are wanted and these are
// fresh), then again in PANEL_INTERVAL_MS.
async function refreshPanel({ onlyIfStale = false } = {}) {
    clearTimeout(panelTimer);
    const tab = currentTab;
    const fresh = Date.now() - (refreshedAt[tab] || 0) < PANEL_FRESH_MS;
    if (!paused() && !(onlyIfStale && fresh)) {
        try {
            await panels[tab].refresh();
            refreshedAt[tab] = Date.now();
            markRefreshed();
        } catch (error) {
            reportError(error);
        }
    }
    const interval = idle() ? IDLE_PANEL_INTERVAL_MS : PANEL_INTERVAL_MS;
    if (signedIn) panelTimer = setTimeout(refreshPanel, interval);
}

// A job ended: the visible tab shows its outcome now; the others when next shown.
async function jobsEnded() {
    for (const tab of TABS) if (tab !== currentTab) refreshedAt[tab] = 0;
    if (!panels[currentTab].afterJobs) return;
    try {
        await panels[currentTab].afterJobs();
    } catch (error) {
        reportError(error);
    }
}

// Starts watching the jobs (an action queued one, or a list shows one active). owesRefresh:
// refresh the lists when nothing is active any more, even if no job was seen running
// (a short job may end before the first poll).
function watchJobs({ owesRefresh = true } = {}) {
    if (owesRefresh) refreshOwed = true;
    if (!jobsTimer && signedIn) {
        jobsWatchStarted = Date.now();
        jobsTimer = setTimeout(pollJobs, 0);
    }
}

function nextJobsPoll() {
    const fast = Date.now() - jobsWatchStarted < JOBS_FAST_FOR_MS;
    jobsTimer = setTimeout(pollJobs, fast ? JOBS_FAST_INTERVAL_MS : JOBS_SLOW_INTERVAL_MS);
}

async function pollJobs() {
    jobsTimer = 0;
    if (!signedIn) return;
    if (paused()) {
        nextJobsPoll();
        return;
    }
    try {
        const active = await panels.backups.refreshJobs();
        const ids = new Set(active.map((job) => job.id));
        const someEnded = activeJobIds !== null && [...activeJobIds].some((id) => !ids.has(id));
        activeJobIds = ids;
        if (active.length) {
            nextJobsPoll();
            if (someEnded) await jobsEnded();
        } else {
            const owed = refreshOwed || someEnded;
            activeJobIds = null;
            refreshOwed = false;
            if (owed) await jobsEnded();
        }
    } catch (error) {
        activeJobIds = null;
        refreshOwed = false;
        reportError(error);
    }
}

// An action changed something: the other tabs' lists are stale (the audit log, at least).
function changed() {
    for (const tab of TABS) if (tab !== currentTab) refreshedAt[tab] = 0;
}

function createPanels() {
    const context = { reportError, watchJobs, changed };
    panels.ddos = createDdosPanel(context);
    panels.backups = createBackupsPanel(context);
    panels.pitr = createPitrPanel(context);
    panels.audit = createAuditPanel(context);
}

// ---- tabs -------------------------------------------------------------------------------------

function showTab(name) {
    currentTab = TABS.includes(name) ? name : 'ddos';
    for (const tab of TABS) {
        const selected = tab === currentTab;
        byId(`tab-${tab}`).setAttribute('aria-selected', String(selected));
        byId(`tab-${tab}`).tabIndex = selected ? 0 : -1;
        byId(`panel-${tab}`).hidden = !selected;
    }
    panels[currentTab].onShow?.();
    redrawVisibleCharts();
    if (signedIn) refreshPanel({ onlyIfStale: true });
}

function tabFromHash() {
    return location.hash.replace(/^#/, '') || 'ddos';
}

// ---- session ----------------------------------------------------------------------------------

function showSignIn(error) {
    signedIn = false;
    byId('app-view').hidden = true;
    byId('session-info').hidden = true;
    byId('sign-in-view').hidden = false;
    showError('sign-in-error', error || null);
    byId('token-input').value = '';
    byId('token-input').focus();
}

function stopTimers() {
    for (const timer of [statsTimer, panelTimer, jobsTimer]) clearTimeout(timer);
    statsTimer = panelTimer = jobsTimer = 0;
    activeJobIds = null;
    refreshOwed = false;
    for (const tab of TABS) refreshedAt[tab] = 0;
}

function signOut(error) {
    stopTimers();
    setToken(null);
    clearBanner();
    for (const panel of Object.values(panels)) panel.reset?.();
    // Nothing the previous user typed or was told stays for the next one.
    for (const form of byId('app-view').querySelectorAll('form')) form.reset();
    for (const line of byId('app-view').querySelectorAll('.form-done')) line.textContent = '';
    for (const box of byId('app-view').querySelectorAll('.form-error')) showError(box, null);
    for (const body of byId('app-view').querySelectorAll('tbody')) body.replaceChildren();
    showSignIn(error);
}

function roleSummary(whoami) {
    if (whoami.admin) return 'may change everything';
    if (whoami.operator) return 'may block and back up';
    return 'read-only';
}

async function startSession() {
    const whoami = await get('/whoami');
    setGrants(whoami);
    signedIn = true;
    byId('role-badge').textContent = `${whoami.role}${whoami.label ? ` · ${whoami.label}` : ''}`;
    byId('role-badge').title = roleSummary(whoami);
    byId('role-badge').dataset.role = whoami.role;
    byId('sign-in-view').hidden = true;
    byId('app-view').hidden = false;
    byId('session-info').hidden = false;
    applyGrants();
    showTab(tabFromHash());
    refreshStats();
}

async function submitSignIn(event) {
    event.preventDefault();
    const token = byId('token-input').value.trim();
    if (!token) return;
    const button = byId('sign-in-submit');
    button.disabled = true;
    showError('sign-in-error', null);
    setToken(token);
    try {
        await startSession();
    } catch (error) {
        setToken(null);
        showError('sign-in-error', error);
    } finally {
        button.disabled = false;
    }
}

function rateLimited(error) {
    const seconds = Math.max(error.retryAfter || 0, 5);
    pausedUntil = Date.now() + seconds * 1000;
    showBanner({ message: error.message, requestId: error.requestId,
                 hint: `The page stops refreshing for ${formatSeconds(seconds)} (Retry-After). ` +
                       `${error.hint || ''}`.trim() }, 'rate');
    setTimeout(() => clearBanner('rate'), seconds * 1000);
}

// ---- start ------------------------------------------------------------------------------------

function start() {
    createPanels();
    onSessionEnded((error) => {
        if (signedIn) signOut(error);
    });
    onRateLimited(rateLimited);
    byId('sign-in-form').addEventListener('submit', submitSignIn);
    byId('sign-out').addEventListener('click', () => signOut(null));
    byId('banner-close').addEventListener('click', () => clearBanner());
    for (const tab of TABS) {
        byId(`tab-${tab}`).addEventListener('click', () => {
            if (location.hash !== `#${tab}`) location.hash = tab;
            else showTab(tab);
        });
    }
    byId('app-view').querySelector('[role=tablist]').addEventListener('keydown', (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (!step) return;
        const next = TABS[(TABS.indexOf(currentTab) + step + TABS.length) % TABS.length];
        location.hash = next;
        byId(`tab-${next}`).focus();
    });
    window.addEventListener('hashchange', () => {
        if (signedIn) showTab(tabFromHash());
    });
    for (const type of ['pointerdown', 'pointermove', 'keydown', 'wheel']) {
        document.addEventListener(type, noteInput, { passive: true });
    }
    document.addEventListener('visibilitychange', () => {
        if (!document.hidden && signedIn) {
            refreshStats();
            refreshPanel({ onlyIfStale: true });
        }
    });
    if (currentToken()) {
        startSession().catch((error) => {
            setToken(null);
            showSignIn(error);
        });
    } else {
        showSignIn(null);
    }
}

start();
