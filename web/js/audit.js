// audit.js: the "Audit log" panel — GET /audit?action=&limit=, newest first, filterable
// by action (the datalist offers the actions seen so far), one row per state-changing
// call with who (acting role, token label, client), what, on what, and its details.
// Shared state (this module's): the actions seen, for the filter's suggestions.

import { get } from './api.js';
import { byId, el, fillRows, formatDateTime, showError } from './dom.js';

const knownActions = new Set();

function detailsCell(details) {
    const text = details && Object.keys(details).length ? JSON.stringify(details) : '';
    if (!text) return el('td', {});
    if (text.length <= 80) return el('td', {}, el('code', { class: 'details' }, text));
    return el('td', {}, el('details', {},
        el('summary', {}, el('code', { class: 'details' }, text.slice(0, 77) + '…')),
        el('pre', { class: 'details-full' }, JSON.stringify(details, null, 2))));
}

function showEntries(entries) {
    const rows = entries.map((entry) => el('tr', { 'data-audit': entry.id },
        el('td', { class: 'nowrap', title: entry.at }, formatDateTime(entry.at)),
        el('td', {}, el('span', { class: 'action' }, entry.action)),
        el('td', { class: 'mono' }, entry.target || ''),
        el('td', {}, entry.acting_role,
           entry.session_role !== entry.acting_role
               ? el('div', { class: 'small muted' }, `session ${entry.session_role}`) : ''),
        el('td', {}, entry.token_label || el('span', { class: 'muted' }, 'SQL')),
        el('td', { class: 'mono' }, entry.http_client || entry.client_addr || '',
           entry.request_id
               ? el('div', { class: 'small muted', title: 'request id' }, entry.request_id) : ''),
        detailsCell(entry.details),
    ));
    fillRows(byId('audit-body'), rows, 'No entries match.');
    for (const entry of entries) knownActions.add(entry.action);
    const options = [...knownActions].sort().map((action) => el('option', { value: action }));
    byId('audit-actions').replaceChildren(...options);
}

export function createAuditPanel() {
    async function refresh() {
        const params = new URLSearchParams({ limit: byId('audit-limit').value });
        const action = byId('audit-action').value.trim();
        if (action) params.set('action', action);
        showEntries(await get(`/audit?${params}`));
    }

    async function filter(event) {
        event?.preventDefault();
        showError('audit-error', null);
        try {
            await refresh();
        } catch (error) {
            showError('audit-error', error);
        }
    }

    byId('audit-form').addEventListener('submit', filter);
    byId('audit-limit').addEventListener('change', filter);
    byId('audit-clear').addEventListener('click', () => {
        byId('audit-action').value = '';
        filter();
    });

    return {
        refresh,
        reset() {
            byId('audit-action').value = '';
            showError('audit-error', null);
        },
    };
}
