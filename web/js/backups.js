// backups.js: the "Backups" panel — statistics (GET /backups/stats), the jobs with their
// progress and cancel buttons (GET /jobs), the backups list with verify and restore
// (the restore asks for confirmation in a dialog naming the target database), the
// create form, the totals by kind and the schedules (GET /schedules, POST
// /schedules/:name).
// Shared state (this module's): the last backups list, for the progress estimate of
// running backups and for the restore dialog.

import { get, post } from './api.js';
import {
    actionButton, allows, byId, doneLineOf, el, fillRows, formatBytes, formatDateTime,
    formatNumber, formatSeconds, pill, runAction, showError, timeCell,
} from './dom.js';

const ACTIVE_STATES = new Set(['queued', 'running']);
const RECENT_FINISHED_JOBS = 10;
const SCHEDULES_FRESH_MS = 60000;  // they change only through this page or SQL

let lastBackups = [];
let lastSchedules = [];
let schedulesFetchedAt = 0;

export function isActiveJob(job) {
    return ACTIVE_STATES.has(job.state);
}

function card(label, value, note, tone) {
    return el('div', { class: 'stat' },
        el('div', { class: 'stat-label' }, label),
        el('div', { class: `stat-value ${tone || ''}` }, value),
        el('div', { class: 'stat-note' }, note || ''));
}

function newestOf(stats) {
    let newest = null;
    for (const [kind, b] of Object.entries(stats.newest || {})) {
        if (!newest || b.age_seconds < newest.age_seconds) newest = { kind, ...b };
    }
    return newest;
}

function showCards(stats) {
    const newest = newestOf(stats);
    const dir = stats.backup_dir || {};
    const rate = stats.success_rate === null || stats.success_rate === undefined
        ? '–' : `${(Number(stats.success_rate) * 100).toFixed(1)} %`;
    const failures = Number(stats.failures_last_7_days) || 0;
    const newestCard = newest
        ? card('Newest backup', `${formatSeconds(newest.age_seconds)} ago`,
               `#${newest.id}, ${newest.kind}, ${formatBytes(newest.bytes)}`,
               newest.age_seconds > 2 * 86400 ? 'warn' : '')
        : card('Newest backup', 'none', 'no backup has succeeded', 'bad');
    byId('backup-cards').replaceChildren(
        newestCard,
        card('Stored', formatBytes(stats.total_bytes), 'in succeeded backups'),
        card('Success rate', rate, `${failures} failed in the last 7 days`, failures ? 'bad' : ''),
        card('Backup directory',
             dir.exists ? `${formatBytes(dir.free_bytes)} free` : 'missing',
             dir.exists ? `of ${formatBytes(dir.total_bytes)} at ${dir.path}`
                        : `${dir.path || ''}: ${dir.error || 'created by the first backup'}`,
             dir.exists ? '' : 'warn'),
        card('Jobs', `${formatNumber(stats.jobs?.running)} running`,
             `${formatNumber(stats.jobs?.queued)} queued`),
    );
    if (stats.last_error) {
        byId('backup-cards').append(el('div', { class: 'stat wide bad-border' },
            el('div', { class: 'stat-label' }, 'Last failure'),
            el('div', { class: 'stat-note' },
               `backup #${stats.last_error.backup_id}, ${formatDateTime(stats.last_error.at)}: `,
               el('span', { class: 'error-text' }, stats.last_error.error || ''))));
    }
    const retention = stats.retention || {};
    byId('retention-note').textContent = `kept: ${retention.daily ?? '?'} daily, ` +
        `${retention.weekly ?? '?'} weekly, ${retention.monthly ?? '?'} monthly`;
}

function showByKind(stats) {
    const rows = Object.entries(stats.by_kind || {}).map(([kind, k]) => {
        const newest = stats.newest?.[kind];
        return el('tr', {},
            el('td', {}, kind),
            el('td', { class: 'num' }, formatNumber(k.count)),
            el('td', { class: 'num' }, formatBytes(k.bytes)),
            el('td', {}, Object.entries(k.by_status || {}).map(
                ([status, n]) => el('span', { class: 'kv' }, pill(status), ` ${n}`))),
            el('td', {}, newest ? timeCell(newest.finished_at) : '–'));
    });
    fillRows(byId('by-kind-body'), rows, 'No backups yet.');
}

// What is known about a running job's progress: bytes, and for a backup an estimate
// against the last successful backup of the same database.
function progressCell(job) {
    const bytes = Number(job.progress_bytes) || 0;
    if (!isActiveJob(job)) {
        if (job.state === 'failed' || job.state === 'cancelled') {
            return el('td', { class: 'error-text' }, job.error || job.state);
        }
        const resultBytes = job.result?.bytes;
        return el('td', {}, resultBytes !== undefined ? formatBytes(resultBytes)
                                                       : bytes ? formatBytes(bytes) : '');
    }
    const previous = job.kind === 'backup' && lastBackups.find(
        (b) => b.status === 'succeeded' && b.database === job.database && b.bytes);
    const percent = previous ? Math.min(99, Math.floor((bytes / previous.bytes) * 100)) : null;
    const fill = el('div', { class: 'progress-fill',
                             style: percent === null ? '' : `width: ${percent}%` });
    const bar = el('div', { class: `progress ${percent === null ? 'indeterminate' : ''}`,
                            role: 'progressbar', 'aria-valuenow': percent ?? undefined,
                            'aria-valuemin': 0, 'aria-valuemax': 100 }, fill);
    const estimate = percent === null ? '' : ` (≈${percent} % of the last backup)`;
    let label = `${formatBytes(bytes)}${estimate}`;
    if (job.state === 'queued') label = 'waiting for a worker';
    else if (bytes === 0) label = 'running';
    return el('td', {}, bar, el('div', { class: 'small muted' }, label));
}

function tookCell(job) {
    if (!job.started_at) return el('td', {}, '–');
    const end = job.finished_at ? new Date(job.finished_at) : new Date();
    return el('td', {}, formatSeconds((end - new Date(job.started_at)) / 1000));
}

function verificationCell(b) {
    if (!b.verified_at) return el('span', { class: 'muted' }, 'not verified');
    const ok = b.verify_result?.ok === true;
    const detail = ok ? `${b.verify_result.tables_compared ?? '?'} tables compared`
        : (b.verify_result?.error || `${b.verify_result?.mismatch_count ?? '?'} mismatches`);
    return el('span', {}, pill(ok ? 'verified' : 'verify_failed', detail), ' ',
              timeCell(b.verified_at));
}

export function createBackupsPanel({ reportError, watchJobs, changed }) {
    let restoreTarget = null;

    function showJobs(jobs) {
        const active = jobs.filter(isActiveJob);
        const finished = jobs.filter((j) => !isActiveJob(j)).slice(0, RECENT_FINISHED_JOBS);
        const rows = [...active, ...finished].map((job) => el('tr', { 'data-job': job.id },
            el('td', { class: 'num' }, job.id),
            el('td', {}, job.kind),
            el('td', {}, pill(job.state)),
            el('td', {}, job.database || ''),
            progressCell(job),
            el('td', {}, timeCell(job.started_at || job.created_at)),
            tookCell(job),
            el('td', { class: 'actions' }, isActiveJob(job) ? actionButton('Cancel',
                'infra_operator', (e) => cancelJob(job.id, e.currentTarget)) : ''),
        ));
        fillRows(byId('jobs-body'), rows, 'No jobs yet.');
        byId('jobs-note').textContent = active.length
            ? `${active.length} active, followed until they end`
            : `the ${RECENT_FINISHED_JOBS} newest`;
        return active;
    }

    function showBackups(backups) {
        lastBackups = backups;
        const rows = backups.map((b) => el('tr', { 'data-backup': b.id },
            el('td', { class: 'num' }, b.id),
            el('td', {}, b.kind),
            el('td', {}, pill(b.status),
               b.error ? el('div', { class: 'small error-text' }, b.error) : ''),
            el('td', {}, b.database),
            el('td', { class: 'num' }, formatBytes(b.bytes)),
            el('td', {}, timeCell(b.finished_at)),
            el('td', {}, b.status === 'succeeded' ? verificationCell(b) : ''),
            el('td', { class: 'actions' }, b.status === 'succeeded' ? [
                actionButton('Verify', 'infra_operator', (e) => verify(b, e.currentTarget)),
                actionButton('Restore…', 'infra_admin', () => openRestore(b)),
            ] : ''),
        ));
        fillRows(byId('backups-body'), rows, 'No backups yet: create one above.');
    }

    function showSchedules(schedules) {
        lastSchedules = schedules;
        const rows = schedules.map((s) => {
            const editable = allows('infra_admin') && s.managed_by !== 'pg_cron';
            const cron = el('input', { value: s.cron, class: 'cron', 'data-original': s.cron,
                                       'aria-label': `cron of ${s.name}`, disabled: !editable });
            const enabled = el('input', { type: 'checkbox', checked: s.enabled,
                                          'data-original': String(s.enabled),
                                          'aria-label': `${s.name} enabled`, disabled: !editable });
            const save = actionButton('Save', 'infra_admin',
                (e) => saveSchedule(s, cron.value.trim(), enabled.checked, e.currentTarget));
            if (s.managed_by === 'pg_cron') {
                save.disabled = true;
                save.title = 'run by pg_cron: change it with cron.alter_job()';
            }
            return el('tr', { 'data-schedule': s.name },
                el('td', {}, s.name, s.managed_by === 'pg_cron'
                    ? el('div', { class: 'small muted' }, 'run by pg_cron') : ''),
                el('td', {}, s.action),
                el('td', {}, cron),
                el('td', {}, enabled),
                el('td', {}, s.enabled ? timeCell(s.next_run)
                                       : el('span', { class: 'muted' }, 'disabled')),
                el('td', {}, timeCell(s.last_run)),
                el('td', { class: 'actions' }, save));
        });
        fillRows(byId('schedules-body'), rows, 'No schedules.');
    }

    // Whether the admin is changing a schedule (a refresh must not wipe the edit).
    function schedulesBeingEdited() {
        const body = byId('schedules-body');
        if (body.contains(document.activeElement)) return true;
        const current = (input) =>
            (input.type === 'checkbox' ? String(input.checked) : input.value);
        return [...body.querySelectorAll('input')].some(
            (input) => current(input) !== input.dataset.original);
    }

    async function refreshBackupsAndStats() {
        const [backups, stats] = await Promise.all([get('/backups'), get('/backups/stats')]);
        showBackups(backups);
        showCards(stats);
        showByKind(stats);
    }

    // Everything the panel shows; the schedules only when a minute old.
    async function refresh() {
        const schedulesStale = Date.now() - schedulesFetchedAt > SCHEDULES_FRESH_MS;
        const [jobs, schedules] = await Promise.all([
            get('/jobs'), schedulesStale ? get('/schedules') : null, refreshBackupsAndStats()]);
        if (schedules && !schedulesBeingEdited()) {
            showSchedules(schedules);
            schedulesFetchedAt = Date.now();
        }
        if (showJobs(jobs).length) watchJobs();
    }

    // One poll of the jobs while some are active (app.js calls it); returns the active ones.
    async function refreshJobs() {
        return showJobs(await get('/jobs'));
    }

    async function cancelJob(id, button) {
        const result = await runAction({ button, errorBox: byId('backup-error') },
                                       () => post(`/jobs/${id}/cancel`));
        if (result) {
            doneLineOf(byId('backup-form')).textContent = `Job ${id}: ${result.state}.`;
            changed();
            watchJobs();
        }
    }

    async function verify(backup, button) {
        const result = await runAction({ button, errorBox: byId('backup-error'),
                                         doneLine: doneLineOf(byId('backup-form')) },
                                       () => post(`/backups/${backup.id}/verify`));
        if (result) {
            doneLineOf(byId('backup-form')).textContent = `Verification of backup #${backup.id} ` +
                `${result.state || 'queued'} as job ${result.job_id}.`;
            changed();
            watchJobs();
        }
    }

    async function saveSchedule(schedule, cron, enabled, button) {
        const body = {};
        if (cron !== schedule.cron) body.cron = cron;
        if (enabled !== schedule.enabled) body.enabled = enabled;
        const path = `/schedules/${encodeURIComponent(schedule.name)}`;
        const saved = await runAction({ button, errorBox: byId('schedule-error') },
                                      () => post(path, body));
        if (saved) {
            // The answer is the schedule as stored (its next run recomputed).
            showSchedules(lastSchedules.map((s) => (s.name === saved.name ? saved : s)));
            changed();
        }
    }

    async function submitCreate(event) {
        event.preventDefault();
        const form = byId('backup-form');
        const type = byId('backup-type').value;
        const created = await runAction(
            { button: byId('backup-create'), errorBox: byId('backup-error'),
              doneLine: doneLineOf(form) },
            () => post('/backups/create', { type }));
        if (!created) return;
        doneLineOf(form).textContent = `Backup #${created.id} (${type}) queued.`;
        changed();
        showBackups(await get('/backups').catch((error) => {
            reportError(error);
            return lastBackups;
        }));
        watchJobs();
    }

    // ---- restore ----

    function restoreSummary() {
        const target = byId('restore-target').value.trim();
        const replace = byId('restore-replace').checked;
        const b = restoreTarget;
        const text = byId('restore-confirm-text');
        const consequence = replace
            ? el('div', { class: 'warning' }, `If database "${target}" exists, it is dropped ` +
                 'and replaced: its current data is lost.')
            : el('div', { class: 'muted' }, 'If that database exists, the restore is refused.');
        text.replaceChildren(`Backup #${b.id} of database `, el('strong', {}, b.database),
            ' will be restored into database ',
            el('strong', { id: 'restore-target-name' }, target || '…'), '.', consequence);
        byId('restore-confirm').textContent = target ? `Restore into ${target}` : 'Restore';
        byId('restore-confirm').disabled = !target;
    }

    function openRestore(backup) {
        restoreTarget = backup;
        byId('restore-title').textContent = `Restore backup #${backup.id}`;
        byId('restore-source').textContent =
            `${backup.kind} backup of database "${backup.database}", ` +
            `finished ${formatDateTime(backup.finished_at)}, ${formatBytes(backup.bytes)}.`;
        byId('restore-target').value = `${backup.database}_restored`;
        byId('restore-replace').checked = false;
        showError('restore-error', null);
        restoreSummary();
        byId('restore-dialog').showModal();
        byId('restore-target').select();
    }

    async function confirmRestore(event) {
        event.preventDefault();
        const body = { id: Number(restoreTarget.id),
                       targetDatabase: byId('restore-target').value.trim(),
                       replace: byId('restore-replace').checked };
        const queued = await runAction(
            { button: byId('restore-confirm'), errorBox: byId('restore-error') },
            () => post('/backups/restore', body));
        if (!queued) return;
        byId('restore-dialog').close();
        doneLineOf(byId('backup-form')).textContent = `Restore of backup #${body.id} into ` +
            `"${body.targetDatabase}" queued as job ${queued.jobId}.`;
        changed();
        watchJobs();
    }

    byId('backup-form').addEventListener('submit', submitCreate);
    byId('restore-form').addEventListener('submit', confirmRestore);
    byId('restore-target').addEventListener('input', restoreSummary);
    byId('restore-replace').addEventListener('change', restoreSummary);
    byId('restore-cancel').addEventListener('click', () => byId('restore-dialog').close());

    return {
        refresh,
        refreshJobs,
        afterJobs: refreshBackupsAndStats,
        reset() {
            lastBackups = [];
            lastSchedules = [];
            schedulesFetchedAt = 0;
            for (const id of ['backup-error', 'schedule-error']) showError(id, null);
        },
    };
}
