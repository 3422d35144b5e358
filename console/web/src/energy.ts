// Energy and average power per bucket, of a source or a site, with each
// bucket's quality: the chart draws the buckets that are not complete in
// another colour, and the table beside it names their quality.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { describe, get, type Source } from "./api";
import { errorBox, h, labelled, num, options, replace, time } from "./dom";
import { Period, subjectOf, subjectPath, subjectPicker, zonePicker } from "./pickers";

interface Bucket {
  time: string;
  end: string;
  import_kwh: number | string | null;
  export_kwh: number | string | null;
  quality: string;
}

interface Meta {
  tz?: string;
  tiers?: string[];
  total_import_kwh?: number | string | null;
}

const qualityText: Record<string, string> = {
  complete: "complete",
  partial: "partial: no sample beyond an edge",
  gap: "gap: more than 15 minutes without samples",
  interpolated: "interpolated across a gap",
};

export class EnergyView {
  readonly el: HTMLElement;
  private readonly subject: HTMLSelectElement;
  private readonly bucket = h(
    "select",
    { name: "bucket" },
    options(
      [["1m", "1 minute"], ["5m", "5 minutes"], ["15m", "15 minutes"], ["1h", "1 hour"], ["1d", "1 day"], ["1w", "1 week"], ["1mo", "1 month"]],
      "1h",
    ),
  );
  private readonly tz = zonePicker("Default: the source's or site's zone");
  private readonly period: Period;
  private readonly error = errorBox();
  private readonly status = h("p", { class: "status", "aria-live": "polite" });
  private readonly chartBox = h("div", { class: "chart", role: "img", "aria-label": "Energy and average power per bucket; the table below has the values" });
  private readonly table = h("div", { class: "table-wrap" });
  private plot: uPlot | null = null;
  private seq = 0;

  constructor(sources: Source[], sites: string[]) {
    this.subject = subjectPicker(sources, sites);
    this.period = new Period(2, () => this.load());
    const form = h(
      "form",
      { class: "controls", onsubmit: (e: Event) => { e.preventDefault(); this.load(); } },
      labelled("Site or source", this.subject),
      labelled("Bucket", this.bucket),
      labelled("Time zone", this.tz),
      this.period.el,
      h("button", { type: "submit" }, "Show"),
    );
    for (const s of [this.subject, this.bucket, this.tz]) s.addEventListener("change", () => this.load());
    this.el = h(
      "section",
      { "aria-labelledby": "energy-title" },
      h("h2", { id: "energy-title" }, "Energy and power"),
      form,
      this.error,
      this.status,
      h("ul", { class: "legend", "aria-label": "Legend" },
        h("li", { class: "swatch complete" }, "Energy of a complete bucket"),
        h("li", { class: "swatch flagged" }, "Energy of a partial, gap or interpolated bucket"),
        h("li", { class: "swatch power" }, "Average power")),
      this.chartBox,
      this.table,
    );
  }

  /** select shows a subject ("site:…" or "source:src_…"). */
  select(value: string): void {
    this.subject.value = value;
    this.load();
  }

  async load(): Promise<void> {
    const range = this.period.range();
    if (typeof range === "string") {
      this.error.show(range);
      return;
    }
    const s = subjectOf(this.subject);
    const seq = ++this.seq;
    this.status.textContent = "Loading…";
    try {
      const r = await get<Bucket[]>(subjectPath(s, "energy"), { ...range, bucket: this.bucket.value, tz: this.tz.value });
      if (seq !== this.seq) return; // a newer request is on its way
      this.error.show(null);
      const meta = (r.meta ?? {}) as Meta;
      this.render(r.data, meta);
      const flagged = r.data.filter((b) => b.quality !== "complete").length;
      this.status.textContent =
        `${s.label}: ${r.data.length} buckets in ${meta.tz ?? "the default zone"}, ` +
        `${num(meta.total_import_kwh ?? null)} kWh imported` +
        (flagged ? `; ${flagged} not complete` : "; all complete") +
        (meta.tiers?.length ? ` (from ${meta.tiers.join(", ")})` : "");
    } catch (e) {
      if (seq !== this.seq) return;
      this.error.show(describe(e));
      this.status.textContent = "";
      this.plot?.destroy();
      this.plot = null;
      replace(this.table);
    }
  }

  private render(buckets: Bucket[], meta: Meta): void {
    const xs: number[] = [];
    const complete: (number | null)[] = [];
    const flagged: (number | null)[] = [];
    const power: (number | null)[] = [];
    for (const b of buckets) {
      const start = Date.parse(b.time) / 1000;
      const hours = (Date.parse(b.end) / 1000 - start) / 3600;
      const kwh = b.import_kwh === null ? null : Number(b.import_kwh);
      xs.push(start);
      complete.push(b.quality === "complete" ? kwh : null);
      flagged.push(b.quality === "complete" ? null : kwh);
      power.push(kwh === null || hours <= 0 ? null : kwh / hours);
    }
    if (buckets.length) {
      // The last bucket's end, so that its power step reaches it.
      xs.push(Date.parse(buckets[buckets.length - 1].end) / 1000);
      complete.push(null);
      flagged.push(null);
      power.push(power[power.length - 1]);
    }
    this.plot?.destroy();
    const tz = meta.tz;
    // A bucket's bar and its average power span the bucket, start to end:
    // the x scale runs to the end of the last one.
    const bars = uPlot.paths.bars!({ size: [0.9, Infinity], align: 1 });
    const steps = uPlot.paths.stepped!({ align: 1 });
    const xStart = xs.length ? xs[0] : 0;
    const xEnd = xs.length ? xs[xs.length - 1] : 1;
    this.plot = new uPlot(
      {
        width: Math.max(320, this.chartBox.clientWidth || 800),
        height: 320,
        tzDate: tz ? (ts) => uPlot.tzDate(new Date(ts * 1000), tz) : undefined,
        scales: {
          x: { time: true, range: () => [xStart, xEnd] },
          kWh: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] }, kW: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        series: [
          {},
          { label: "Energy, complete (kWh)", scale: "kWh", fill: "#4c78a8", stroke: "#4c78a8", paths: bars, points: { show: false } },
          { label: "Energy, not complete (kWh)", scale: "kWh", fill: "#e45756", stroke: "#b22222", paths: bars, points: { show: false } },
          { label: "Average power (kW)", scale: "kW", stroke: "#f58518", width: 2, paths: steps, points: { show: false } },
        ],
        axes: [{}, { scale: "kWh", label: "kWh" }, { scale: "kW", label: "kW", side: 1, grid: { show: false } }],
      },
      [xs, complete, flagged, power],
      this.chartBox,
    );
    const rows = buckets.map((b, i) =>
      h(
        "tr",
        { class: "quality-" + b.quality, "data-quality": b.quality, "data-start": b.time },
        h("td", {}, time(b.time, tz)),
        h("td", {}, time(b.end, tz)),
        h("td", { class: "n", "data-kwh": b.import_kwh === null ? "" : String(b.import_kwh) }, num(b.import_kwh, 4)),
        h("td", { class: "n" }, num(b.export_kwh, 4)),
        h("td", { class: "n" }, num(power[i], 3)),
        h("td", {}, b.quality === "complete" ? "" : h("span", { class: "flag", "aria-hidden": "true" }, "⚠ "), qualityText[b.quality] ?? b.quality),
      ),
    );
    replace(
      this.table,
      h(
        "table",
        { class: "energy" },
        h("caption", {}, "Energy per bucket"),
        h("thead", {}, h("tr", {}, ["Start", "End", "Import (kWh)", "Export (kWh)", "Average power (kW)", "Quality"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows),
      ),
    );
  }
}
