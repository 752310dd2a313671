import type { Centrifuge } from "centrifuge";
import { linePath, toPoint, trim, type Point } from "./chart.ts";
import { byId, el } from "./dom.ts";

/** The window grows with the data from one minute up to five. */
const WINDOW_MS = 5 * 60_000;
const MIN_WINDOW_MS = 60_000;
const WIDTH = 600;
const HEIGHT = 240;
const COLORS = ["#2b6cd9", "#d9482b", "#1f9a5a", "#9b3fd0", "#c98a00", "#0f8f9f", "#d0407f", "#55606e"];
const SVG = "http://www.w3.org/2000/svg";

/** The monitor panel: `system:monitor` (every host's samples), CPU and memory per host over the last minutes, as SVG. */
export class MonitorPanel {
  private readonly hosts = new Map<string, Point[]>();
  private readonly svg = byId<SVGSVGElement>("monitor-chart");
  private readonly legend = byId("legend");
  private scheduled = false;

  constructor(centrifuge: Centrifuge) {
    const sub = centrifuge.newSubscription("system:monitor");
    sub.on("publication", (ctx) => {
      const p = toPoint(ctx.data);
      if (!p) return;
      const points = this.hosts.get(p.host) ?? [];
      points.push(p.point);
      this.hosts.set(p.host, points);
      this.schedule();
    });
    sub.subscribe();
    // The window slides even when a host goes quiet.
    setInterval(() => this.schedule(), 5000);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.draw();
    });
  }

  private draw(): void {
    // The hosts' clocks, not only the browser's: a host a little ahead is still drawn.
    let now = Date.now();
    for (const points of this.hosts.values()) now = Math.max(now, points.at(-1)?.t ?? now);
    let oldest = now;
    for (const points of this.hosts.values()) oldest = Math.min(oldest, points[0]?.t ?? now);
    const box = { now, windowMs: Math.min(WINDOW_MS, Math.max(MIN_WINDOW_MS, now - oldest)), width: WIDTH, height: HEIGHT };
    const shapes: SVGElement[] = [];
    for (const pct of [25, 50, 75]) {
      const y = HEIGHT - (pct / 100) * HEIGHT;
      shapes.push(svg("line", { x1: "0", x2: String(WIDTH), y1: String(y), y2: String(y), class: "grid" }));
      const label = svg("text", { x: "4", y: String(y - 3), class: "axis" });
      label.textContent = `${pct}%`;
      shapes.push(label);
    }
    const legend: HTMLElement[] = [];
    [...this.hosts.keys()].sort().forEach((host, i) => {
      const points = trim(this.hosts.get(host)!, now, WINDOW_MS);
      this.hosts.set(host, points);
      const color = COLORS[i % COLORS.length]!;
      for (const [kind, pick] of [["cpu", (p: Point) => p.cpu], ["mem", (p: Point) => p.mem]] as const) {
        const d = linePath(points, pick, box);
        if (d) shapes.push(svg("path", { d, stroke: color, class: kind, "data-host": host }));
      }
      const last = points.at(-1);
      const item = el("li");
      const swatch = el("i");
      swatch.style.background = color;
      item.append(swatch, `${host}: CPU ${last && Number.isFinite(last.cpu) ? last.cpu.toFixed(0) : "–"}%, memory ${last ? last.mem.toFixed(0) : "–"}%`);
      legend.push(item);
    });
    this.svg.replaceChildren(...shapes);
    this.legend.replaceChildren(...(legend.length > 0 ? legend : [el("li", "waiting for the first sample…")]));
  }
}

function svg(tag: string, attrs: Record<string, string>): SVGElement {
  const e = document.createElementNS(SVG, tag) as SVGElement;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}
