// dom.js: small helpers the panels share — building elements from data (always as
// text, never as HTML, since reasons, targets and error messages come from users),
// formatting numbers, sizes and times for operators, showing errors, and greying out
// what the signed-in role may not do.
// Shared state: the signed-in role's grants (setGrants), read by allows().

// ---- elements ---------------------------------------------------------------------

// el('td', {class: 'num', title: '…'}, 'text', otherNode): an element with attributes
// (class, title, data-*, aria-*, and properties such as disabled or type) and children
// (strings become text nodes; null and false are skipped).
export function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
        if (value === undefined || value === null || value === false) continue;
        if (name === 'class') node.className = value;
        else if (name === 'onclick') node.addEventListener('click', value);
        else if (name in node && name !== 'role' && !name.includes('-')) node[name] = value;
        else node.setAttribute(name, value === true ? '' : String(value));
    }
    append(node, children);
    return node;
}

function append(node, children) {
    for (const child of children.flat()) {
        if (child === null || child === undefined || child === false) continue;
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
}

export function byId(id) {
    const node = document.getElementById(id);
    if (!node) throw new Error(`the page has no element #${id}`);
    return node;
}

export function setText(id, text) {
    byId(id).textContent = text;
}

// Replaces a table body's rows; an empty list shows one row saying so.
export function fillRows(tbody, rows, emptyText) {
    tbody.replaceChildren();
    if (rows.length === 0) {
        const columns = tbody.closest('table')?.querySelectorAll('thead th').length || 1;
        tbody.append(el('tr', { class: 'empty' }, el('td', { colSpan: columns }, emptyText)));
        return;
    }
    tbody.append(...rows);
}

// ---- formatting ---------------------------------------------------------------------

const numberFormat = new Intl.NumberFormat('en-US');

// "1 address", "2 addresses".
export function plural(count, one, many) {
    return `${formatNumber(count)} ${Number(count) === 1 ? one : many}`;
}

export function formatNumber(value) {
    if (value === null || value === undefined || value === '') return '–';
    const n = Number(value);
    return Number.isFinite(n) ? numberFormat.format(n) : String(value);
}

export function formatBytes(value) {
    if (value === null || value === undefined) return '–';
    let n = Number(value);
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let unit = 0;
    while (Math.abs(n) >= 1000 && unit < units.length - 1) {
        n /= 1000;
        unit++;
    }
    return `${unit === 0 ? n : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)} ${units[unit]}`;
}

// A duration in seconds as "45 s", "12 min", "3 h 5 min", "2 d 4 h".
export function formatSeconds(value) {
    if (value === null || value === undefined) return '–';
    const s = Math.max(0, Math.round(Number(value)));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 && s < 600 ? ` ${s % 60} s` : ''}`;
    if (s < 86400) {
        const m = Math.floor((s % 3600) / 60);
        return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ''}`;
    }
    const h = Math.floor((s % 86400) / 3600);
    return `${Math.floor(s / 86400)} d${h ? ` ${h} h` : ''}`;
}

const pad = (n) => String(n).padStart(2, '0');

// A timestamp from the server as local "YYYY-MM-DD HH:MM:SS".
export function formatDateTime(iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
           `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// "3 min ago" / "in 2 h" relative to now.
export function formatRelative(iso) {
    if (!iso) return '–';
    const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
    if (!Number.isFinite(seconds)) return String(iso);
    if (Math.abs(seconds) < 5) return 'just now';
    return seconds > 0 ? `in ${formatSeconds(seconds)}` : `${formatSeconds(-seconds)} ago`;
}

// A <time> element showing the relative time, with the exact local time on hover.
export function timeCell(iso, { relative = true } = {}) {
    if (!iso) return el('span', { class: 'muted' }, '–');
    return el('time', { dateTime: iso, title: `${formatDateTime(iso)} (${iso})` },
              relative ? formatRelative(iso) : formatDateTime(iso));
}

// The local time zone as "UTC+01:00" (for labels next to local-time inputs).
export function localZoneName() {
    const offset = -new Date().getTimezoneOffset();
    const sign = offset >= 0 ? '+' : '-';
    const abs = Math.abs(offset);
    return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

// A coloured status label; known states get their colour from app.css.
export function pill(status, title) {
    const text = status === null || status === undefined ? 'unknown' : String(status);
    return el('span', { class: `pill pill-${text.replace(/[^a-z_]/gi, '')}`, title }, text);
}

// ---- errors ---------------------------------------------------------------------------

// The error's message, its hint and request id (for the server log), as nodes.
export function errorContent(error) {
    const parts = [el('strong', {}, error.message || String(error))];
    if (error.hint) parts.push(el('div', { class: 'error-hint' }, error.hint));
    if (error.requestId) {
        parts.push(el('div', { class: 'error-id' }, `request ${error.requestId}`));
    }
    return parts;
}

// Shows error in a .form-error box (or hides the box for null).
export function showError(box, error) {
    const node = typeof box === 'string' ? byId(box) : box;
    if (!error) {
        node.hidden = true;
        node.replaceChildren();
        return;
    }
    node.replaceChildren(...errorContent(error));
    node.hidden = false;
}

// ---- permissions ------------------------------------------------------------------------

let grants = { infra_viewer: false, infra_operator: false, infra_admin: false };

export function setGrants(whoami) {
    grants = {
        infra_viewer: true,
        infra_operator: Boolean(whoami && whoami.operator),
        infra_admin: Boolean(whoami && whoami.admin),
    };
}

export function allows(role) {
    return Boolean(grants[role]);
}

export function needsText(role) {
    return `needs ${role}`;
}

// Disables control (a button, or a fieldset with everything in it) unless the role is
// granted, saying why in its tooltip and, for fieldsets, in a visible note.
export function guardControl(control, role) {
    const allowed = allows(role);
    control.disabled = !allowed;
    if (control.tagName === 'FIELDSET') {
        let note = control.querySelector(':scope > .needs');
        if (!allowed && !note) {
            note = el('span', { class: 'needs' }, needsText(role));
            control.append(note);
        }
        if (allowed && note) note.remove();
        for (const button of control.querySelectorAll('button')) {
            button.title = allowed ? '' : needsText(role);
        }
    } else {
        control.title = allowed ? '' : needsText(role);
    }
    return control;
}

// Applies guardControl to every [data-needs] element and fills [data-needs-note] spans
// (the note beside a section title: its data-note, or a general one) under root.
export function applyGrants(root = document) {
    for (const control of root.querySelectorAll('[data-needs]')) {
        guardControl(control, control.dataset.needs);
    }
    for (const note of root.querySelectorAll('[data-needs-note]')) {
        const role = note.dataset.needsNote;
        const text = note.dataset.note || `read-only: changing them ${needsText(role)}`;
        note.textContent = allows(role) ? '' : text;
        note.hidden = allows(role);
    }
}

// An action button for a table row: disabled, with the reason as its tooltip, when the
// role lacks the grant.
export function actionButton(label, role, onClick, attributes = {}) {
    const button = el('button', { type: 'button', class: 'small', ...attributes }, label);
    button.addEventListener('click', onClick);
    return guardControl(button, role);
}

// ---- actions --------------------------------------------------------------------------

// Runs action (an async function) for a form or button: the button is busy meanwhile,
// the error box shows the failure (and is cleared first), and the optional done line
// says what happened. Resolves to the action's result, or undefined if it failed.
export async function runAction({ button, errorBox, doneLine }, action) {
    const wasDisabled = button.disabled;
    if (errorBox) showError(errorBox, null);
    if (doneLine) doneLine.textContent = '';
    button.disabled = true;
    button.classList.add('busy');
    try {
        const result = await action();
        return result;
    } catch (error) {
        if (errorBox) showError(errorBox, error);
        else throw error;
        return undefined;
    } finally {
        button.disabled = wasDisabled;
        button.classList.remove('busy');
    }
}

// The one-line "what just happened" note after a form (created on first use).
export function doneLineOf(form) {
    let line = form.querySelector(':scope > .form-done');
    if (!line) {
        line = el('div', { class: 'form-done', role: 'status' });
        form.append(line);
    }
    return line;
}

// Copies text to the clipboard: the Clipboard API where the page may use it, else a
// hidden textarea and the copy command. Resolves to whether it worked.
export async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
        try {
            await navigator.clipboard.writeText(text);
            return true;
        } catch {
            // permission refused: try the fallback
        }
    }
    const area = el('textarea', { value: text, readOnly: true, class: 'offscreen' });
    document.body.append(area);
    area.select();
    let copied = false;
    try {
        copied = document.execCommand('copy');
    } catch {
        copied = false;
    }
    area.remove();
    return copied;
}
