// admin_page.test.mjs: drives the admin page (web/, served by infra_httpd at
// /admin/infrastructure/) in Debian's chromium, headless, through playwright-core — as an
// operator would use it, against a real server:
//   sign-in (a bad token shows the server's message; admin signs in); live DDoS statistics
//   and the traffic chart; block and unblock through the form (an address, a CIDR range
//   with an interval text, an invalid address showing the database's error); the
//   allowlist; creating a backup that reaches "succeeded", verifying it; a schedule's
//   cron (a bad one shows the database's message); the restore confirmation naming the
//   target database, and the restore job; PITR readiness, a recovery plan without a
//   base backup (the database's "no base backup exists"), a base backup taken through the
//   page, then a plan that is ok with its steps and script, copied to the clipboard; the
//   audit log and its filter; a viewer sees every action it may not do disabled with the
//   reason; a 401 returns to sign-in; no 429 and no uncaught script error on the way.
//
// Environment: INFRA_URL (http://host:port of infra_httpd), INFRA_ADMIN_TOKEN,
// INFRA_VIEWER_TOKEN, SCREENSHOT_DIR (a PNG per step, and requests.log: every request
// the page made, with its time and status), optionally CHROMIUM (default
// /usr/bin/chromium). Prints "ok - ..." / "not ok - ..." per check and
// "N passed, N failed"; exits 0 only if every check passed. When a step the rest depends
// on fails (signing in), the remaining checks are reported as not run, i.e. failed.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = {};
for (const name of ['INFRA_URL', 'INFRA_ADMIN_TOKEN', 'INFRA_VIEWER_TOKEN', 'SCREENSHOT_DIR']) {
    if (!process.env[name]) {
        console.log(`not ok - environment: ${name} is not set`);
        console.log('0 passed, 1 failed');
        process.exit(1);
    }
    env[name] = process.env[name];
}
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const pageUrl = env.INFRA_URL.replace(/\/$/, '') + '/admin/infrastructure/';
fs.mkdirSync(env.SCREENSHOT_DIR, { recursive: true });

const SHORT = 10_000;
const results = { passed: 0, failed: 0 };
let aborted = '';
let shotNumber = 0;

function firstLine(error) {
    return String(error?.message || error).split('\n').find((l) => l.trim()) || 'failed';
}

async function screenshot(page, name) {
    shotNumber += 1;
    const number = String(shotNumber).padStart(2, '0');
    const file = path.join(env.SCREENSHOT_DIR, `${number}-${name}.png`);
    try {
        await page.screenshot({ path: file, fullPage: true });
    } catch (error) {
        console.log(`# screenshot ${file} failed: ${firstLine(error)}`);
    }
}

// Runs one check; a failure of a critical one makes the rest "not run" (except those
// that always run: they look at the whole session).
async function check(name, body, { critical = false, always = false } = {}) {
    if (aborted && !always) {
        results.failed += 1;
        console.log(`not ok - ${name}: not run (${aborted})`);
        return false;
    }
    try {
        await body();
        results.passed += 1;
        console.log(`ok - ${name}`);
        return true;
    } catch (error) {
        results.failed += 1;
        console.log(`not ok - ${name}: ${firstLine(error)}`);
        if (critical) aborted = `"${name}" failed`;
        return false;
    }
}

function expect(condition, message) {
    if (!condition) throw new Error(message);
}

// Waits until the text of selector matches pattern; fails with the last text seen.
async function waitForText(page, selector, pattern, timeout = SHORT) {
    const deadline = Date.now() + timeout;
    let last = '(not found)';
    while (Date.now() < deadline) {
        const node = await page.$(selector);
        if (node) {
            last = (await node.innerText().catch(() => '')).trim();
            if (pattern.test(last)) return last;
        }
        await page.waitForTimeout(250);
    }
    throw new Error(`${selector} never matched ${pattern} within ${timeout / 1000} s; ` +
                    `it says "${last.slice(0, 300)}"`);
}

async function fillAndSubmit(page, fields, button) {
    for (const [selector, value] of Object.entries(fields)) await page.fill(selector, value);
    await page.click(button);
}

async function signIn(page, token) {
    await page.waitForSelector('#token-input', { state: 'visible', timeout: SHORT });
    await fillAndSubmit(page, { '#token-input': token }, '#sign-in-submit');
}

async function openTab(page, name) {
    await page.click(`#tab-${name}`);
    await page.waitForSelector(`#panel-${name}`, { state: 'visible', timeout: SHORT });
}

// What the recovery-plan form shows after Make plan: the plan's verdict or the error.
async function planOutcome(page) {
    const outcome = page.locator('#plan-verdict:visible, #plan-error:visible').first();
    await outcome.waitFor({ state: 'visible', timeout: SHORT });
    return (await outcome.innerText()).trim();
}

// The browser's local time as a datetime-local value, offset by seconds. (Zero seconds
// are left out: the input shows them so, and playwright's fill checks the value it set.)
async function browserLocalTime(page, offsetSeconds = 0) {
    return page.evaluate((offset) => {
        const d = new Date(Date.now() + offset * 1000);
        const p = (n) => String(n).padStart(2, '0');
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
               `${p(d.getHours())}:${p(d.getMinutes())}` +
               (d.getSeconds() ? `:${p(d.getSeconds())}` : '');
    }, offsetSeconds);
}

// The most requests within any 60 s.
function busiestMinute(times) {
    let most = 0;
    let first = 0;
    for (let last = 0; last < times.length; last++) {
        while (times[last] - times[first] >= 60_000) first++;
        most = Math.max(most, last - first + 1);
    }
    return most;
}

async function main() {
    const browser = await chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'],
                                   { origin: new URL(pageUrl).origin });
    const page = await context.newPage();
    const scriptErrors = [];
    const refused = [];
    const requestTimes = [];
    const requestLog = [];
    const started = Date.now();
    let apiRequests = 0;
    page.on('pageerror', (error) => scriptErrors.push(firstLine(error)));
    page.on('request', (request) => {
        if (request.url().startsWith(env.INFRA_URL)) requestTimes.push(Date.now());
    });
    page.on('response', (response) => {
        const request = response.request();
        requestLog.push(`${((Date.now() - started) / 1000).toFixed(1)} ${request.method()} ` +
                        `${response.url().replace(env.INFRA_URL, '')} ${response.status()}`);
        if (response.url().includes('/api/infrastructure/')) apiRequests += 1;
        if (response.status() === 429) refused.push(response.url());
    });

    try {
        await run(page);
    } finally {
        const logFile = path.join(env.SCREENSHOT_DIR, 'requests.log');
        fs.writeFileSync(logFile, requestLog.join('\n') + '\n');
        console.log(`# ${requestTimes.length} requests (${apiRequests} to the API) in ` +
                    `${((Date.now() - started) / 1000).toFixed(0)} s; the busiest 60 s had ` +
                    `${busiestMinute(requestTimes)} (the guard allows 100 by default)`);
        await check('no request was refused by the rate limit (429)', () => {
            expect(refused.length === 0, `${refused.length} refused, first ${refused[0]}`);
        }, { always: true });
        await check('the page raised no uncaught script error', () => {
            expect(scriptErrors.length === 0, scriptErrors.join('; '));
        }, { always: true });
        await browser.close();
    }
}

async function run(page) {
    // ---- sign-in -------------------------------------------------------------------------
    await check('the page loads and asks for a token', async () => {
        const response = await page.goto(pageUrl, { waitUntil: 'load' });
        expect(response && response.ok(), `GET ${pageUrl}: HTTP ${response && response.status()}`);
        await page.waitForSelector('#token-input', { state: 'visible', timeout: SHORT });
    }, { critical: true });
    await screenshot(page, 'sign-in');

    await check('a bad token is refused with the server\'s message', async () => {
        await signIn(page, 'ixt_' + '0'.repeat(64));
        await waitForText(page, '#sign-in-error', /the bearer token is not valid/);
        expect(await page.isVisible('#token-input'), 'the sign-in form is gone');
    });
    await screenshot(page, 'bad-token');

    await check('an admin signs in: the header names the role', async () => {
        await signIn(page, env.INFRA_ADMIN_TOKEN);
        await waitForText(page, '#role-badge', /infra_admin/);
    }, { critical: true });

    // ---- DDoS ------------------------------------------------------------------------------
    await check('the DDoS panel shows live statistics', async () => {
        await waitForText(page, '#stat-allowed', /^\d[\d,]*$/);
        await waitForText(page, '#stat-tracked', /^\d[\d,]*$/);
        await waitForText(page, '#verdicts-body', /ok\s+\d/);
        await waitForText(page, '#top-ips-body', /127\.0\.0\.1/);
    });
    await check('the chart draws allowed and refused requests from successive refreshes',
                async () => {
        // (attached, not visible: a line of zeros is flat, and flat boxes count as invisible)
        await page.waitForSelector('#traffic-chart polyline.series-ok',
                                   { state: 'attached', timeout: 25_000 });
        await page.waitForSelector('#traffic-chart polyline.series-bad',
                                   { state: 'attached', timeout: SHORT });
    });
    await screenshot(page, 'ddos-stats');

    await check('an invalid address shows the database\'s error', async () => {
        await fillAndSubmit(page, { '#block-address': '999.1.1.1', '#block-duration': '30',
                                    '#block-reason': 'browser test' }, '#block-submit');
        await waitForText(page, '#block-error', /invalid input syntax for type cidr/);
    });
    await check('blocking an address through the form lists it as blocked', async () => {
        await fillAndSubmit(page, { '#block-address': '198.51.100.23', '#block-duration': '30',
                                    '#block-reason': 'browser test: scraper' }, '#block-submit');
        await waitForText(page, '#blocks-body tr[data-network="198.51.100.23/32"]',
                          /browser test: scraper[\s\S]*manual[\s\S]*in (29|30) min/);
        expect(!(await page.isVisible('#block-error')), 'the earlier error is still shown');
    });
    await check('blocking a range with an interval text lists the range', async () => {
        await fillAndSubmit(page, { '#block-address': '203.0.113.0/24',
                                    '#block-duration': '2 hours',
                                    '#block-reason': 'browser test: range' }, '#block-submit');
        await waitForText(page, '#blocks-body tr[data-network="203.0.113.0/24"]',
                          /browser test: range[\s\S]*in (1 h 59 min|2 h)/);
        await waitForText(page, '#stat-blocked', /^[2-9]|^\d\d/);
    });
    await check('unblocking removes the address from the list', async () => {
        await page.click('#blocks-body tr[data-network="198.51.100.23/32"] button');
        await page.waitForSelector('#blocks-body tr[data-network="198.51.100.23/32"]',
                                   { state: 'detached', timeout: SHORT });
        await waitForText(page, '#block-form .form-done', /Unblocked 198\.51\.100\.23\/32/);
    });
    await screenshot(page, 'blocked-list');

    await check('the allowlist form adds an entry and its button removes it', async () => {
        await fillAndSubmit(page, { '#allow-address': '192.0.2.0/28', '#allow-duration': '',
                                    '#allow-reason': 'browser test: office' }, '#allow-submit');
        const row = '#allowlist-body tr[data-network="192.0.2.0/28"]';
        await waitForText(page, row, /browser test: office[\s\S]*permanent/);
        await screenshot(page, 'allowlist');
        await page.click(`${row} button`);
        await page.waitForSelector(row, { state: 'detached', timeout: SHORT });
    });

    // ---- backups -------------------------------------------------------------------------
    let backupId = null;
    await check('a backup created through the page reaches "succeeded" in the list', async () => {
        await openTab(page, 'backups');
        await page.selectOption('#backup-type', 'manual');
        await page.click('#backup-create');
        const done = await waitForText(page, '#backup-form .form-done',
                                       /Backup #\d+ \(manual\) queued/);
        backupId = /#(\d+)/.exec(done)[1];
        await waitForText(page, `#backups-body tr[data-backup="${backupId}"]`, /succeeded/,
                          120_000);
        await waitForText(page, '#backup-cards', /Newest backup\s+\d/i);
    });
    await check('verifying the backup through the page marks it verified', async () => {
        expect(backupId, 'no backup to verify');
        const row = `#backups-body tr[data-backup="${backupId}"]`;
        await page.click(`${row} button:has-text("Verify")`);
        await waitForText(page, '#backup-form .form-done',
                          new RegExp(`Verification of backup #${backupId} queued`));
        await waitForText(page, row, /verified/, 120_000);
    });
    await screenshot(page, 'backups');

    await check('a schedule: a bad cron shows the database\'s message, a good one is saved',
                async () => {
        const row = '#schedules-body tr[data-schedule="weekly_verify"]';
        await page.fill(`${row} input.cron`, '0 5 * * *x');
        await page.click(`${row} button:has-text("Save")`);
        await waitForText(page, '#schedule-error', /invalid cron expression/);
        await page.fill(`${row} input.cron`, '30 5 * * 0');
        await page.click(`${row} button:has-text("Save")`);
        await page.waitForSelector('#schedule-error', { state: 'hidden', timeout: SHORT });
        expect((await page.inputValue(`${row} input.cron`)) === '30 5 * * 0',
               'the cron was not kept');
    });

    await check('restore asks for confirmation naming the target database, then runs as a job',
                async () => {
        expect(backupId, 'no backup to restore');
        await page.click(`#backups-body tr[data-backup="${backupId}"] button:has-text("Restore")`);
        await page.waitForSelector('#restore-dialog[open]', { timeout: SHORT });
        await page.fill('#restore-target', 'browser_copy');
        await waitForText(page, '#restore-confirm-text',
                          /will be restored into database browser_copy/);
        await waitForText(page, '#restore-confirm', /^Restore into browser_copy$/);
        await screenshot(page, 'restore-dialog');
        await page.click('#restore-confirm');
        try {
            await page.waitForSelector('#restore-dialog', { state: 'hidden', timeout: SHORT });
        } catch (error) {
            const shown = await page.innerText('#restore-error').catch(() => '');
            await page.click('#restore-cancel');  // a modal dialog would block every later step
            throw new Error(`the dialog stayed open${shown ? `: ${shown}` : ''}`);
        }
        const done = await waitForText(page, '#backup-form .form-done',
                                       /into "browser_copy" queued as job \d+/);
        const jobId = /job (\d+)/.exec(done)[1];
        await waitForText(page, `#jobs-body tr[data-job="${jobId}"]`, /restore[\s\S]*succeeded/,
                          120_000);
    });
    await screenshot(page, 'restore-job');

    // ---- PITR ----------------------------------------------------------------------------
    await check('the PITR panel shows archiving as ready', async () => {
        await openTab(page, 'pitr');
        await waitForText(page, '#pitr-ready', /^ready$/);
        await waitForText(page, '#wal-cards', /Archive lag/i);
    });
    await check('a recovery plan without a base backup shows the database\'s message', async () => {
        await page.fill('#plan-target', await browserLocalTime(page, -120));
        await page.click('#plan-submit');
        const outcome = await planOutcome(page);
        expect(/no base backup exists/.test(outcome), `the page says "${outcome}"`);
    });
    await screenshot(page, 'plan-without-base-backup');

    await check('a base backup taken through the page succeeds', async () => {
        await page.click('#base-backup-create');
        const done = await waitForText(page, '#base-backup-form .form-done',
                                       /Base backup #\d+ queued/);
        const id = /#(\d+)/.exec(done)[1];
        await waitForText(page, `#base-backups-body tr[data-base-backup="${id}"]`, /succeeded/,
                          180_000);
    });
    await screenshot(page, 'base-backup');

    await check('a recovery plan after the base backup is ok and shows its steps and script',
                async () => {
        await page.waitForTimeout(1500);
        await page.fill('#plan-target', await browserLocalTime(page));
        // The archive must reach past the target: commits after it are archived within
        // archive_timeout, so an operator (and this test) asks again until it does.
        const deadline = Date.now() + 90_000;
        let verdict = '';
        while (Date.now() < deadline) {
            await page.click('#plan-submit');
            verdict = await planOutcome(page);
            if (/can be run/.test(verdict)) break;
            await page.waitForTimeout(3000);
        }
        expect(/can be run/.test(verdict), `the plan is not ok: ${verdict}; ` +
               (await page.innerText('#plan-problems').catch(() => '')));
        const steps = await page.$$eval('#plan-steps li', (items) => items.length);
        expect(steps >= 5, `only ${steps} steps`);
        await waitForText(page, '#plan-script', /^#!\/bin\/sh/);
    });
    await check('Copy puts the plan\'s script on the clipboard', async () => {
        await page.click('#plan-copy');
        await waitForText(page, '#plan-copy-state', /Copied/);
        const copied = await page.evaluate(() => navigator.clipboard.readText());
        const script = await page.textContent('#plan-script');
        expect(copied === script,
               `the clipboard holds ${copied.length} characters, the script ${script.length}`);
    });
    await check('the archive lag chart is drawn from the monitor\'s history', async () => {
        // drawn when the panel was refreshed after the base backup, or by the next
        // periodic refresh (every 60 s)
        await page.waitForSelector('#lag-chart polyline.series-lag',
                                   { state: 'attached', timeout: 70_000 });
    });
    await page.evaluate(() => document.getElementById('plan-result').scrollIntoView());
    await screenshot(page, 'recovery-plan');

    // ---- audit ---------------------------------------------------------------------------
    await check('the audit log lists the block with the token\'s label, filterable by action',
                async () => {
        const label = (await page.innerText('#role-badge')).split(' · ')[1];
        await openTab(page, 'audit');
        await waitForText(page, '#audit-body', /unblock\s+198\.51\.100\.23\/32/);
        const blocks = await page.$$eval('#audit-body tr', (rows) => rows
            .map((row) => [...row.cells].map((cell) => cell.innerText.split('\n')[0]))
            .filter((cells) => cells[1] === 'block' && cells[2] === '198.51.100.23/32'));
        expect(blocks.length === 1, `${blocks.length} rows for the block of 198.51.100.23/32`);
        expect(blocks[0][4] === label && blocks[0][5] === '127.0.0.1',
               `the block's token and client are "${blocks[0][4]}" and "${blocks[0][5]}", ` +
               `not "${label}" and "127.0.0.1"`);
        await screenshot(page, 'audit');
        await page.fill('#audit-action', 'unblock');
        await page.click('#audit-submit');
        await waitForText(page, '#audit-body', /unblock\s+198\.51\.100\.23\/32/);
        const actions = await page.$$eval('#audit-body .action',
                                          (cells) => cells.map((c) => c.textContent));
        expect(actions.length > 0 && actions.every((a) => a === 'unblock'),
               `the filtered rows' actions: ${actions.join(', ')}`);
    });
    await screenshot(page, 'audit-filtered');

    // ---- a viewer ------------------------------------------------------------------------
    await check('a viewer signs in read-only', async () => {
        await page.click('#sign-out');
        await signIn(page, env.INFRA_VIEWER_TOKEN);
        await waitForText(page, '#role-badge', /infra_viewer/);
    }, { critical: true });
    await check('viewer: the block form is disabled with the reason', async () => {
        await openTab(page, 'ddos');
        expect(await page.isDisabled('#block-submit'), 'the Block button is enabled');
        expect(await page.isDisabled('#block-address'), 'the address field is enabled');
        await waitForText(page, '#block-form fieldset .needs', /^needs infra_operator$/);
        await waitForText(page, '#blocks-body tr[data-network="203.0.113.0/24"]',
                          /browser test: range/);
        const unblock = '#blocks-body tr[data-network="203.0.113.0/24"] button';
        expect(await page.isDisabled(unblock), 'the Unblock button is enabled');
        expect((await page.getAttribute(unblock, 'title')) === 'needs infra_operator',
               'the Unblock button does not say why it is disabled');
        await waitForText(page, '#allow-form fieldset .needs', /^needs infra_admin$/);
    });
    await screenshot(page, 'viewer-ddos');
    await check('viewer: creating, verifying and restoring backups are disabled with the reason',
                async () => {
        await openTab(page, 'backups');
        expect(await page.isDisabled('#backup-create'), 'the Create backup button is enabled');
        await waitForText(page, '#backup-form fieldset .needs', /^needs infra_operator$/);
        const row = `#backups-body tr[data-backup="${backupId}"]`;
        await page.waitForSelector(row, { timeout: SHORT });
        expect(await page.isDisabled(`${row} button:has-text("Verify")`), 'Verify is enabled');
        const restoreTitle = await page.getAttribute(`${row} button:has-text("Restore")`, 'title');
        expect(restoreTitle === 'needs infra_admin', 'Restore does not say it needs infra_admin');
    });
    await screenshot(page, 'viewer-backups');
    await check('viewer: a base backup is disabled with the reason; a recovery plan is not',
                async () => {
        await openTab(page, 'pitr');
        expect(await page.isDisabled('#base-backup-create'), 'Take base backup is enabled');
        await waitForText(page, '#base-backup-form fieldset .needs', /^needs infra_operator$/);
        expect(!(await page.isDisabled('#plan-submit')), 'Make plan is disabled for a viewer');
    });
    await screenshot(page, 'viewer-pitr');

    await check('a token that stops being valid (401) returns to sign-in with the message',
                async () => {
        // as if it were revoked: the next refresh (within 5 s) is refused
        await page.evaluate(
            () => sessionStorage.setItem('infra_ext.admin.token', 'ixt_' + '1'.repeat(64)));
        await waitForText(page, '#sign-in-error', /the bearer token is not valid/);
        expect(!(await page.isVisible('#app-view')), 'the panels are still shown');
        expect(await page.evaluate(() => sessionStorage.getItem('infra_ext.admin.token')) === null,
               'the token is still stored');
    });
    await screenshot(page, 'session-ended');
}

main()
    .catch((error) => {
        results.failed += 1;
        console.log(`not ok - the browser test ran to its end: ${firstLine(error)}`);
    })
    .finally(() => {
        console.log(`${results.passed} passed, ${results.failed} failed`);
        process.exit(results.failed === 0 && results.passed > 0 ? 0 : 1);
    });
