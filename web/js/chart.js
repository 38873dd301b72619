// chart.js: a small time-series line chart drawn as inline SVG (no library): a legend,
// a y axis from 0 with round ticks, a time x axis, one line per series. A null value
// breaks its line (no sample, or nothing to measure). The chart redraws itself at the
// container's width when the window is resized.
// Shared state: the last data of each chart container (for the redraw on resize).

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 220;
const MARGIN = { top: 12, right: 16, bottom: 28, left: 56 };
const drawn = new Map();

function svgEl(tag, attributes = {}, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
}

// A round step giving about `count` ticks up to max: the smallest of `steps` that is
// large enough, or 1, 2 or 5 times a power of ten.
function niceStep(max, count, steps) {
    const raw = max / count;
    const fitting = (steps || []).find((s) => s >= raw);
    if (fitting) return fitting;
    const power = 10 ** Math.floor(Math.log10(raw));
    const fraction = raw / power;
    const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
    return nice * power;
}

const pad = (n) => String(n).padStart(2, '0');
function clockTime(ms, withSeconds) {
    const d = new Date(ms);
    const seconds = withSeconds ? `:${pad(d.getSeconds())}` : '';
    return `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds}`;
}

// The runs of consecutive non-null points of a series, as SVG point lists.
function lineRuns(points, x, y) {
    const runs = [];
    let run = [];
    for (const p of points) {
        if (p.y === null || p.y === undefined || !Number.isFinite(p.y)) {
            if (run.length) runs.push(run);
            run = [];
        } else {
            run.push(`${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`);
        }
    }
    if (run.length) runs.push(run);
    return runs;
}

function legend(series) {
    const box = document.createElement('div');
    box.className = 'chart-legend';
    for (const s of series) {
        const item = document.createElement('span');
        item.className = `legend-item ${s.className}`;
        const swatch = document.createElement('span');
        swatch.className = 'swatch';
        item.append(swatch, document.createTextNode(s.label));
        box.append(item);
    }
    return box;
}

function draw(container, data) {
    const { series, formatY = String, emptyText = 'No data yet.', steps } = data;
    const all = series.flatMap((s) => s.points);
    const values = all.map((p) => p.y).filter((v) => v !== null && Number.isFinite(v));
    container.replaceChildren(legend(series));
    const longest = Math.max(0, ...series.map((s) => s.points.length));
    if (longest < 2 || values.length === 0) {
        const empty = document.createElement('div');
        empty.className = 'chart-empty';
        empty.textContent = emptyText;
        container.append(empty);
        return;
    }
    const width = Math.max(320, container.clientWidth || 600);
    const xs = all.map((p) => p.x);
    const minX = Math.min(...xs);
    const maxX = Math.max(...xs) === minX ? minX + 1 : Math.max(...xs);
    const step = niceStep(Math.max(...values, 1e-9), 4, steps);
    const maxY = Math.max(step, Math.ceil(Math.max(...values) / step) * step);
    const plotW = width - MARGIN.left - MARGIN.right;
    const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
    const x = (v) => MARGIN.left + ((v - minX) / (maxX - minX)) * plotW;
    const y = (v) => MARGIN.top + plotH - (v / maxY) * plotH;

    const svg = svgEl('svg', { viewBox: `0 0 ${width} ${HEIGHT}`, width: '100%', height: HEIGHT,
                               class: 'chart-svg' });
    for (let v = 0; v <= maxY + step / 2; v += step) {
        svg.append(svgEl('line', { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v),
                                   class: 'grid-line' }));
        svg.append(svgEl('text', { x: MARGIN.left - 8, y: y(v) + 4, class: 'axis-label',
                                   'text-anchor': 'end' }, formatY(v)));
    }
    const withSeconds = maxX - minX < 10 * 60 * 1000;
    const ticks = 4;
    for (let i = 0; i <= ticks; i++) {
        const t = minX + ((maxX - minX) * i) / ticks;
        const anchor = i === 0 ? 'start' : i === ticks ? 'end' : 'middle';
        svg.append(svgEl('text', { x: x(t), y: HEIGHT - 8, class: 'axis-label',
                                   'text-anchor': anchor }, clockTime(t, withSeconds)));
    }
    for (const s of series) {
        for (const run of lineRuns(s.points, x, y)) {
            if (run.length === 1) {
                const [cx, cy] = run[0].split(',');
                svg.append(svgEl('circle', { cx, cy, r: 2.5, class: `series ${s.className}` }));
            } else {
                svg.append(svgEl('polyline', { points: run.join(' '),
                                               class: `series ${s.className}` }));
            }
        }
    }
    container.append(svg);
}

// Draws (or redraws) the chart in container. data: {series: [{label, className,
// points: [{x: epoch ms, y: number | null}]}], formatY?, emptyText?, steps? (the
// y steps to prefer, e.g. round durations)}.
export function drawLineChart(container, data) {
    drawn.set(container, data);
    draw(container, data);
}

// Redraws the charts that are visible now (after a resize, or when a hidden tab with
// charts is shown: a hidden container has no width to draw at).
export function redrawVisibleCharts() {
    for (const [container, data] of drawn) {
        if (container.isConnected && container.offsetParent !== null) draw(container, data);
    }
}

let resizeTimer = 0;
window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(redrawVisibleCharts, 150);
});
