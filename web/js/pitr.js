// pitr.js: the "Point-in-time recovery" panel — whether WAL archiving is ready (GET
// /pitr/config: each problem with the statement that fixes it), the WAL archive's
// statistics and a chart of the archive lag from the monitor's history (GET
// /pitr/stats), the base backups (GET /pitr/base-backups, POST /pitr/base-backup), and
// recovery plans (POST /pitr/recover) from a local date-time picker, with the plan's
// steps and its script, which can be copied.
// Shared state: none beyond the page's elements.

import { get, post } from './api.js';
import { drawLineChart } from './chart.js';
import {
    byId, copyText, doneLineOf, el, fillRows, formatBytes, formatDateTime, formatNumber,
    formatSeconds, localZoneName, pill, runAction, showError, timeCell,
} from './dom.js';

const pad = (n) => String(n).padStart(2, '0');

// A Date as the value of a datetime-local input (local time, seconds).
function localInputValue(date) {
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T` +
           `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function card(label, value, note, tone) {
    return el('div', { class: 'stat' },
        el('div', { class: 'stat-label' }, label),
        el('div', { class: `stat-value ${tone || ''}` }, value),
        el('div', { class: 'stat-note' }, note || ''));
}

function copyButton(text, label = 'Copy') {
    const state = el('span', { class: 'small muted copy-state', role: 'status' });
    const button = el('button', { type: 'button', class: 'small secondary' }, label);
    button.addEventListener('click', async () => {
        const copied = await copyText(text);
        state.textContent = copied ? 'Copied.' : 'Copy failed: select it and copy by hand.';
    });
    return [button, state];
}

// One setting that is wrong (or could be better): what it is, what it should be, why,
// and the statement that fixes it.
function settingItem(item, tone) {
    const restart = item.restart_needed ? el('span', { class: 'pill pill-warn' }, 'restart needed')
                                        : '';
    const fix = item.fix
        ? el('div', { class: 'fix' }, el('code', {}, item.fix), ...copyButton(item.fix)) : '';
    return el('li', { class: `setting-item ${tone}` },
        el('div', {}, el('strong', { class: 'mono' }, item.setting), ': ',
           el('span', { class: 'mono' }, String(item.current ?? '')), ' → ',
           el('span', { class: 'mono' }, String(item.wanted ?? '')), restart),
        el('div', { class: 'muted' }, item.why || ''),
        fix);
}

function settingsList(items, tone) {
    return el('ul', { class: 'settings-list' }, items.map((item) => settingItem(item, tone)));
}

function showReadiness(config) {
    const ready = byId('pitr-ready');
    ready.className = `status-pill ${config.ready ? 'ok' : 'bad'}`;
    ready.textContent = config.ready ? 'ready' : 'not ready';
    const parts = [];
    if (config.problems?.length) {
        parts.push(el('p', {}, config.restart_needed ? 'Fix these, then restart PostgreSQL:'
                                                     : 'Fix these:'));
        parts.push(settingsList(config.problems, 'bad'));
    } else {
        parts.push(el('p', { class: 'muted' },
                      `WAL is archived by infra_ext into ${config.archive_dir}.`));
    }
    if (config.advice?.length) {
        parts.push(el('p', {}, 'Advice:'));
        parts.push(settingsList(config.advice, 'warn'));
    }
    byId('pitr-problems').replaceChildren(...parts);
}

function showWalCards(stats) {
    const archive = stats.archive || {};
    const archiver = stats.archiver || {};
    const bases = stats.base_backups || {};
    const ratio = archive.compression_ratio
        ? ` (${Number(archive.compression_ratio).toFixed(1)}×)` : '';
    const newest = archive.newest_segment?.name ?? archive.newest_segment;
    const failure = archiver.last_failure
        ? `; last failure: ${archiver.last_failure.message || ''}` : '';
    byId('wal-cards').replaceChildren(
        card('Archive lag (RPO)',
             stats.rpo_seconds === null ? 'none archived' : formatSeconds(stats.rpo_seconds),
             'since the newest archived segment', archiver.failing ? 'bad' : ''),
        card('Segments', formatNumber(archive.segments),
             newest ? `newest ${newest}` : 'the archive is empty'),
        card('Stored', formatBytes(archive.stored_bytes),
             `${formatBytes(archive.original_bytes)} of WAL, ${stats.compression}${ratio}`),
        card('Archiver', archiver.failing ? 'failing' : 'ok',
             `${formatNumber(archiver.archived_count)} archived, ` +
             `${formatNumber(archiver.failed_count)} failed${failure}`,
             archiver.failing ? 'bad' : 'ok'),
        card('Waiting', formatNumber(stats.ready_files), 'segments ready to archive',
             Number(stats.ready_files) > 5 ? 'warn' : ''),
        card('Gaps', formatNumber(stats.gaps), 'missing segments in the archive',
             Number(stats.gaps) > 0 ? 'bad' : ''),
        card('Base backups', formatNumber(bases.retained),
             bases.newest_stop_time
                 ? `newest ended ${formatSeconds(bases.newest_age_seconds)} ago`
                 : 'none: recovery needs one',
             bases.retained ? '' : 'warn'),
        card('Archive space',
             archive.free_bytes === undefined ? '–' : `${formatBytes(archive.free_bytes)} free`,
             stats.archive_dir || ''),
    );
}

const DURATION_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400,
                        21600, 43200, 86400];

function drawLag(history) {
    const points = (history || []).map((h) => ({ x: Date.parse(h.at), y: h.lag_seconds }));
    drawLineChart(byId('lag-chart'), {
        series: [{ label: 'lag (s)', className: 'series-lag', points }],
        formatY: (v) => formatSeconds(v),
        steps: DURATION_STEPS,
        emptyText: 'No samples yet: the WAL monitor records one per interval.',
    });
}

function planFacts(plan) {
    const base = plan.base_backup;
    const wal = plan.wal || {};
    const reaches = plan.archive_reaches
        ? `${formatDateTime(plan.archive_reaches)} (${plan.archive_reaches_by || ''})` : '–';
    const fact = (name, value) => [el('dt', {}, name), el('dd', {}, value)];
    return el('dl', { class: 'facts' },
        fact('Target', `${formatDateTime(plan.target_time)} (${plan.target_time})`),
        fact('Base backup', base
            ? `#${base.id}, ended ${formatDateTime(base.stop_time)}, ${base.path}` : 'none'),
        fact('WAL', `${formatNumber(wal.segments_needed)} segments from ` +
                    `${wal.first_segment ?? '?'}; ${formatNumber(plan.missing_count)} missing`),
        fact('Archive reaches', reaches));
}

function showPlan(plan) {
    byId('plan-result').hidden = false;
    byId('plan-summary').replaceChildren(
        pill(plan.ok ? 'ok' : 'problems'), ' ',
        el('span', { id: 'plan-verdict' }, plan.ok
            ? 'The archive covers the target: this plan can be run.'
            : 'This plan has problems: its script stops before changing anything.'),
        planFacts(plan));
    const problems = (plan.problems || []).map((p) => el('li', { class: 'setting-item bad' },
        el('strong', { class: 'mono' }, p.code), ': ', p.message));
    byId('plan-problems').replaceChildren(
        ...(problems.length ? [el('ul', { class: 'settings-list' }, problems)] : []));
    const notes = (plan.notes || []).map(
        (n) => el('li', {}, typeof n === 'string' ? n : JSON.stringify(n)));
    byId('plan-notes').replaceChildren(
        ...(notes.length ? [el('ul', { class: 'notes' }, notes)] : []));
    // "1. Stop the server ..." are the steps; anything else (the one-command variant) is
    // said after them.
    const steps = (plan.steps || []).map(String);
    const numbered = steps.filter((s) => /^\d+\.\s/.test(s));
    byId('plan-steps').replaceChildren(
        ...numbered.map((s) => el('li', {}, s.replace(/^\d+\.\s*/, ''))));
    byId('plan-steps-after').replaceChildren(
        ...steps.filter((s) => !numbered.includes(s)).map((s) => el('p', {}, s)));
    byId('plan-script').textContent = plan.script || '';
    byId('plan-copy-state').textContent = '';
}

export function createPitrPanel({ reportError, watchJobs, changed }) {
    function showBaseBackups(bases) {
        const rows = bases.map((b) => el('tr', { 'data-base-backup': b.id },
            el('td', { class: 'num' }, b.id),
            el('td', {}, pill(b.status),
               b.error ? el('div', { class: 'small error-text' }, b.error) : ''),
            el('td', { class: 'num' }, formatBytes(b.bytes)),
            el('td', {}, timeCell(b.start_time || b.created_at)),
            el('td', {}, b.stop_time ? formatDateTime(b.stop_time) : '–'),
            el('td', {}, b.timeline ?? '–'),
            el('td', {}, b.verified_by || ''),
        ));
        fillRows(byId('base-backups-body'), rows, 'No base backup yet: recovery needs one.');
        const select = byId('plan-base');
        const chosen = select.value;
        const usable = bases.filter((b) => b.status === 'succeeded');
        select.replaceChildren(el('option', { value: '' }, 'the newest that fits'),
            ...usable.map((b) => el('option', { value: b.id },
                                    `#${b.id}, ended ${formatDateTime(b.stop_time)}`)));
        select.value = [...select.options].some((o) => o.value === chosen) ? chosen : '';
    }

    function showStats(stats) {
        showWalCards(stats);
        drawLag(stats.history);
    }

    async function refreshBaseBackups() {
        showBaseBackups(await get('/pitr/base-backups'));
    }

    async function refresh() {
        const [config, bases, stats] = await Promise.all([
            get('/pitr/config'), get('/pitr/base-backups'), get('/pitr/stats')]);
        showReadiness(config);
        showBaseBackups(bases);
        showStats(stats);
        if (bases.some((b) => b.status === 'queued' || b.status === 'running')) watchJobs();
    }

    // A job ended (a base backup, probably): its row and the archive's numbers.
    async function afterJobs() {
        const [bases, stats] = await Promise.all([get('/pitr/base-backups'), get('/pitr/stats')]);
        showBaseBackups(bases);
        showStats(stats);
    }

    async function submitBaseBackup(event) {
        event.preventDefault();
        const form = byId('base-backup-form');
        const created = await runAction(
            { button: byId('base-backup-create'), errorBox: byId('base-backup-error'),
              doneLine: doneLineOf(form) },
            () => post('/pitr/base-backup'));
        if (!created) return;
        doneLineOf(form).textContent = `Base backup #${created.id} queued.`;
        changed();
        await refreshBaseBackups().catch(reportError);
        watchJobs();
    }

    async function submitPlan(event) {
        event.preventDefault();
        const value = byId('plan-target').value;
        const target = new Date(value);
        if (!value || Number.isNaN(target.getTime())) {
            showError('plan-error', { message: 'choose the date and time to recover to' });
            return;
        }
        const body = { targetTimestamp: target.toISOString() };
        if (byId('plan-base').value) body.baseBackupId = Number(byId('plan-base').value);
        byId('plan-result').hidden = true;
        const plan = await runAction({ button: byId('plan-submit'), errorBox: byId('plan-error') },
                                     () => post('/pitr/recover', body));
        if (plan) showPlan(plan);
        changed();  // a plan is audited
    }

    async function copyScript() {
        const copied = await copyText(byId('plan-script').textContent);
        byId('plan-copy-state').textContent = copied
            ? 'Copied to the clipboard.' : 'Copy failed: select the script and copy it by hand.';
    }

    byId('base-backup-form').addEventListener('submit', submitBaseBackup);
    byId('plan-form').addEventListener('submit', submitPlan);
    byId('plan-copy').addEventListener('click', copyScript);
    byId('plan-zone').textContent = localZoneName();

    return {
        refresh,
        afterJobs,
        onShow() {
            const input = byId('plan-target');
            if (!input.value) input.value = localInputValue(new Date(Date.now() - 60_000));
        },
        reset() {
            byId('plan-result').hidden = true;
            byId('plan-target').value = '';
            for (const id of ['plan-error', 'base-backup-error']) showError(id, null);
        },
    };
}
