// ddos.js: the "DDoS protection" panel — the guard's live statistics (GET /ddos/stats,
// polled by app.js), a chart of allowed vs refused requests per refresh computed from
// successive verdict counters, the busiest addresses, the blocklist with its block form
// and unblock buttons, and the allowlist with its form and remove buttons.
// Shared state (this module's): the previous verdict counters and the chart's samples.

import { get, post, networkPath } from './api.js';
import { drawLineChart } from './chart.js';
import {
    actionButton, byId, doneLineOf, el, fillRows, formatDateTime, formatNumber,
    formatSeconds, plural, runAction, setText, showError, timeCell,
} from './dom.js';

const ALLOWED_VERDICTS = new Set(['ok', 'allowlisted']);
const VERDICT_LABELS = {
    ok: 'ok',
    allowlisted: 'allowlisted',
    blocked: 'blocked',
    rate_limit_minute: 'rate limit (per minute)',
    rate_limit_hour: 'rate limit (per hour)',
    request_too_large: 'request too large',
};
const MAX_SAMPLES = 120;  // 10 minutes at one refresh every 5 s

let previousCounters = null;
const samples = [];

function sumVerdicts(verdicts, allowed) {
    let sum = 0;
    for (const [verdict, count] of Object.entries(verdicts || {})) {
        if (ALLOWED_VERDICTS.has(verdict) === allowed) sum += Number(count) || 0;
    }
    return sum;
}

// Adds the requests since the previous refresh to the chart's samples. Counters that go
// down (the database server restarted) start a new baseline instead of a sample.
function recordSample(verdicts) {
    const now = { at: Date.now(), allowed: sumVerdicts(verdicts, true),
                  refused: sumVerdicts(verdicts, false) };
    if (previousCounters && now.allowed >= previousCounters.allowed &&
        now.refused >= previousCounters.refused) {
        samples.push({ at: now.at, allowed: now.allowed - previousCounters.allowed,
                       refused: now.refused - previousCounters.refused });
        if (samples.length > MAX_SAMPLES) samples.shift();
    }
    previousCounters = now;
}

function drawTrafficChart() {
    drawLineChart(byId('traffic-chart'), {
        series: [
            { label: 'allowed', className: 'series-ok',
              points: samples.map((s) => ({ x: s.at, y: s.allowed })) },
            { label: 'refused', className: 'series-bad',
              points: samples.map((s) => ({ x: s.at, y: s.refused })) },
        ],
        formatY: (v) => formatNumber(v),
        emptyText: 'Collecting samples: the chart starts at the third refresh (after 10 s).',
    });
    const span = samples.length > 1 ? (samples.at(-1).at - samples[0].at) / 1000 : 0;
    setText('traffic-window', span ? `requests per refresh, last ${formatSeconds(span)}` : '');
}

function showCards(stats) {
    const verdicts = stats.verdicts || {};
    setText('stat-allowed', formatNumber(sumVerdicts(verdicts, true)));
    setText('stat-refused', formatNumber(sumVerdicts(verdicts, false)));
    byId('stat-refused').classList.toggle('bad', sumVerdicts(verdicts, false) > 0);
    setText('stat-tracked', formatNumber(stats.tracked_ips));
    setText('stat-tracked-note', `of ${formatNumber(stats.capacity)} slots` +
            (stats.evictions ? `, ${formatNumber(stats.evictions)} evicted` : ''));
    const blocked = (Number(stats.blocked_addresses) || 0) + (Number(stats.blocked_ranges) || 0);
    setText('stat-blocked', formatNumber(blocked));
    setText('stat-blocked-note',
            `${plural(stats.blocked_addresses, 'address', 'addresses')}, ` +
            `${plural(stats.blocked_ranges, 'range', 'ranges')}; ` +
            `${formatNumber(stats.auto_blocks_last_hour)} automatic in the last hour`);
    setText('stat-allowlisted', formatNumber(stats.allowlisted));
    const limit = stats.settings?.ddos_block_duration?.text;
    if (limit) setText('block-duration-hint', `(minutes or interval; default ${limit})`);
}

// Green for allowed verdicts, red for refusals that happened, grey for those that did not.
function verdictTone(verdict, count) {
    if (ALLOWED_VERDICTS.has(verdict)) return 'ok';
    return Number(count) ? 'bad' : 'none';
}

function showVerdicts(verdicts) {
    const rows = Object.entries(verdicts || {}).map(([verdict, count]) => el('tr', {},
        el('td', {}, el('span', { class: `dot ${verdictTone(verdict, count)}` }),
           VERDICT_LABELS[verdict] || verdict),
        el('td', { class: 'num' }, formatNumber(count))));
    fillRows(byId('verdicts-body'), rows, 'No verdicts yet.');
}

// Fills the block form with an address from the busiest list, for the operator to
// give a reason and confirm.
function prepareBlock(network) {
    byId('block-address').value = network.replace(/\/(32|128)$/, '');
    byId('block-form').scrollIntoView({ block: 'center' });
    byId('block-reason').focus();
}

function showTopIps(topIps) {
    const rows = (topIps || []).map((ip) => el('tr', {},
        el('td', { class: 'mono' }, ip.key),
        el('td', { class: 'num' }, formatNumber(ip.minute)),
        el('td', { class: 'num' }, formatNumber(ip.hour)),
        el('td', {}, timeCell(ip.last_seen)),
        el('td', { class: 'actions' }, actionButton('Block…', 'infra_operator',
            () => prepareBlock(ip.key), { 'aria-label': `Block ${ip.key}…` })),
    ));
    fillRows(byId('top-ips-body'), rows, 'No client has been seen yet.');
}

// The body's duration: a plain number is minutes, other text an interval ("2 hours"),
// empty means the server's default.
function durationOf(text) {
    const value = text.trim();
    if (value === '') return undefined;
    return /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
}

function expiryCell(expiresAt) {
    if (expiresAt) return timeCell(expiresAt);
    return el('span', { class: 'pill pill-permanent' }, 'permanent');
}

export function createDdosPanel({ reportError, changed }) {
    async function refreshStats() {
        const stats = await get('/ddos/stats');
        recordSample(stats.verdicts);
        showCards(stats);
        showVerdicts(stats.verdicts);
        showTopIps(stats.top_ips);
        drawTrafficChart();
    }

    async function unblock(network, button) {
        const result = await runAction({ button, errorBox: byId('block-error'),
                                         doneLine: doneLineOf(byId('block-form')) },
            () => post(`/ddos/unblock/${networkPath(network)}`));
        if (result) {
            doneLineOf(byId('block-form')).textContent = result.unblocked
                ? `Unblocked ${network}.` : `${network} was not blocked any more.`;
            changed();
            await refreshBlocks().catch(reportError);
        }
    }

    async function disallow(network, button) {
        const result = await runAction({ button, errorBox: byId('allow-error'),
                                         doneLine: doneLineOf(byId('allow-form')) },
            () => post(`/ddos/disallow/${networkPath(network)}`));
        if (result) {
            doneLineOf(byId('allow-form')).textContent = result.removed
                ? `Removed ${network} from the allowlist.` : `${network} was not allowlisted.`;
            changed();
            await refreshAllowlist().catch(reportError);
        }
    }

    function showBlocks(blocks) {
        const rows = blocks.map((b) => el('tr', { 'data-network': b.network },
            el('td', { class: 'mono' }, b.network),
            el('td', {}, b.reason),
            el('td', {}, el('span', { class: `pill pill-${b.source}` }, b.source)),
            el('td', {}, b.created_by),
            el('td', {}, timeCell(b.created_at)),
            el('td', {}, expiryCell(b.expires_at)),
            el('td', { class: 'actions' }, actionButton('Unblock', 'infra_operator',
                (event) => unblock(b.network, event.currentTarget),
                { 'aria-label': `Unblock ${b.network}` })),
        ));
        fillRows(byId('blocks-body'), rows, 'Nothing is blocked.');
    }

    function showAllowlist(entries) {
        const rows = entries.map((a) => el('tr', { 'data-network': a.network },
            el('td', { class: 'mono' }, a.network),
            el('td', {}, a.reason),
            el('td', {}, a.created_by),
            el('td', {}, timeCell(a.created_at)),
            el('td', {}, expiryCell(a.expires_at)),
            el('td', { class: 'actions' }, actionButton('Remove', 'infra_admin',
                (event) => disallow(a.network, event.currentTarget),
                { 'aria-label': `Remove ${a.network} from the allowlist` })),
        ));
        fillRows(byId('allowlist-body'), rows, 'The allowlist is empty.');
    }

    async function refreshBlocks() {
        showBlocks(await get('/ddos/blocks'));
    }

    async function refreshAllowlist() {
        showAllowlist(await get('/ddos/allowlist'));
    }

    async function refreshLists() {
        await Promise.all([refreshBlocks(), refreshAllowlist()]);
    }

    async function submitBlock(event) {
        event.preventDefault();
        const form = byId('block-form');
        const permanent = byId('block-permanent').checked;
        const body = { reason: byId('block-reason').value.trim() };
        if (permanent) body.permanent = true;
        else body.duration = durationOf(byId('block-duration').value);
        const address = byId('block-address').value;
        const block = await runAction({ button: byId('block-submit'), errorBox: byId('block-error'),
                                        doneLine: doneLineOf(form) },
            () => post(`/ddos/block/${networkPath(address)}`, body));
        if (!block) return;
        doneLineOf(form).textContent = `Blocked ${block.network} ` +
            (block.expires_at ? `until ${formatDateTime(block.expires_at)}.` : 'permanently.');
        byId('block-address').value = '';
        byId('block-reason').value = '';
        changed();
        await refreshBlocks().catch(reportError);
    }

    async function submitAllow(event) {
        event.preventDefault();
        const form = byId('allow-form');
        const body = { reason: byId('allow-reason').value.trim(),
                       duration: durationOf(byId('allow-duration').value) };
        const address = byId('allow-address').value;
        const entry = await runAction({ button: byId('allow-submit'), errorBox: byId('allow-error'),
                                        doneLine: doneLineOf(form) },
            () => post(`/ddos/allow/${networkPath(address)}`, body));
        if (!entry) return;
        doneLineOf(form).textContent = `Allowlisted ${entry.network} ` +
            (entry.expires_at ? `until ${formatDateTime(entry.expires_at)}.` : 'permanently.');
        byId('allow-address').value = '';
        byId('allow-reason').value = '';
        changed();
        await refreshAllowlist().catch(reportError);
    }

    byId('block-form').addEventListener('submit', submitBlock);
    byId('allow-form').addEventListener('submit', submitAllow);
    byId('block-permanent').addEventListener('change', (event) => {
        byId('block-duration').disabled = event.currentTarget.checked;
    });

    return {
        refreshStats,
        refresh: refreshLists,
        reset() {
            previousCounters = null;
            samples.length = 0;
            drawTrafficChart();
            byId('block-duration').disabled = false;
            for (const id of ['block-error', 'allow-error']) showError(id, null);
        },
    };
}
