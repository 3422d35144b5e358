// Cost per day or month of a source or a site under its assigned supply and
// export tariffs, each bucket with its itemised lines.
import { describe, get, type Source } from "./api";
import { errorBox, h, labelled, num, options, replace, time } from "./dom";
import { Period, subjectOf, subjectPath, subjectPicker, zonePicker } from "./pickers";

interface Money {
  excl_vat: string;
  incl_vat: string;
}

interface Line {
  kind?: string;
  component: string;
  period_start: string;
  period_end: string;
  volume: string;
  unit: string;
  unit_price: string;
  excl_vat: string;
  incl_vat: string;
  vat_rate: string;
  source?: string;
}

interface CostBucket {
  start: string;
  end: string;
  import_kwh: string;
  export_kwh: string;
  quality: string;
  invoice_totals: { total: Money };
  lines: Line[];
}

interface Cost {
  currency: string;
  tz: string;
  buckets: CostBucket[];
  invoice_totals: { total: Money };
  unpriced: { source: string; kind: string; from: string; to: string }[];
}

export class CostView {
  readonly el: HTMLElement;
  private readonly subject: HTMLSelectElement;
  private readonly bucket = h("select", { name: "bucket" }, options([["day", "Day"], ["month", "Month"]], "day"));
  private readonly tz = zonePicker("Default: the tariffs' zone");
  private readonly period = new Period(7, () => this.load());
  private readonly error = errorBox();
  private readonly status = h("p", { class: "status", "aria-live": "polite" });
  private readonly body = h("div", { class: "table-wrap" });
  private seq = 0;

  constructor(sources: Source[], sites: string[]) {
    this.subject = subjectPicker(sources, sites);
    for (const s of [this.subject, this.bucket, this.tz]) s.addEventListener("change", () => this.load());
    this.el = h(
      "section",
      { "aria-labelledby": "cost-title" },
      h("h2", { id: "cost-title" }, "Cost"),
      h(
        "form",
        { class: "controls", onsubmit: (e: Event) => { e.preventDefault(); this.load(); } },
        labelled("Site or source", this.subject),
        labelled("Per", this.bucket),
        labelled("Time zone", this.tz),
        this.period.el,
        h("button", { type: "submit" }, "Show"),
      ),
      this.error,
      this.status,
      this.body,
    );
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
      const r = await get<Cost>(subjectPath(s, "cost"), { ...range, bucket: this.bucket.value, tz: this.tz.value });
      if (seq !== this.seq) return;
      this.error.show(null);
      this.render(r.data);
      this.status.textContent = `${s.label}: ${r.data.buckets.length} buckets in ${r.data.tz}`;
    } catch (e) {
      if (seq !== this.seq) return;
      this.error.show(describe(e));
      this.status.textContent = "";
      replace(this.body);
    }
  }

  private render(c: Cost): void {
    const rows = c.buckets.flatMap((b, i) => {
      const detailId = `cost-lines-${i}`;
      const detail = h(
        "tr",
        { id: detailId, class: "lines", hidden: true },
        h("td", { colspan: 6 }, linesTable(b.lines, c.tz, c.currency)),
      );
      const toggle = h("button", { type: "button", class: "link", "aria-expanded": "false", "aria-controls": detailId }, `${b.lines.length} lines`);
      toggle.addEventListener("click", () => {
        detail.hidden = !detail.hidden;
        toggle.setAttribute("aria-expanded", String(!detail.hidden));
      });
      return [
        h(
          "tr",
          { class: "quality-" + b.quality, "data-start": b.start },
          h("td", {}, time(b.start, c.tz)),
          h("td", { class: "n" }, num(b.import_kwh, 4)),
          h("td", { class: "n" }, num(b.export_kwh, 4)),
          h("td", {}, b.quality),
          h("td", { class: "n", "data-total": b.invoice_totals.total.incl_vat }, `${b.invoice_totals.total.excl_vat} / ${b.invoice_totals.total.incl_vat} ${c.currency}`),
          h("td", {}, toggle),
        ),
        detail,
      ];
    });
    replace(
      this.body,
      c.unpriced.length
        ? h("p", { class: "warning" }, `No tariff prices ${c.unpriced.length} stretch(es) of this period: `,
            c.unpriced.slice(0, 5).map((u) => `${u.source} (${u.kind}) ${time(u.from, c.tz)} – ${time(u.to, c.tz)}`).join("; "))
        : null,
      h(
        "table",
        { class: "cost" },
        h("caption", {}, "Cost per bucket (excluding / including VAT)"),
        h("thead", {}, h("tr", {}, ["Start", "Import (kWh)", "Export (kWh)", "Quality", "Total", "Itemised"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows),
        h("tfoot", {}, h("tr", {}, h("th", { scope: "row", colspan: 4 }, "Total"),
          h("td", { class: "n" }, `${c.invoice_totals.total.excl_vat} / ${c.invoice_totals.total.incl_vat} ${c.currency}`), h("td"))),
      ),
    );
  }
}

export function linesTable(lines: Line[], tz: string | undefined, currency: string): HTMLTableElement {
  return h(
    "table",
    { class: "lines" },
    h("caption", {}, "Itemised lines"),
    h("thead", {}, h("tr", {}, ["Component", "From", "To", "Volume", "Unit price", "Excl. VAT", "Incl. VAT", "VAT %"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      lines.map((l) =>
        h(
          "tr",
          { class: "line" },
          h("td", {}, (l.kind ? l.kind + " " : "") + l.component),
          h("td", {}, time(l.period_start, tz)),
          h("td", {}, time(l.period_end, tz)),
          h("td", { class: "n" }, `${num(l.volume, 4)} ${l.unit}`),
          h("td", { class: "n" }, `${l.unit_price} ${currency}`),
          h("td", { class: "n" }, l.excl_vat),
          h("td", { class: "n" }, l.incl_vat),
          h("td", { class: "n" }, l.vat_rate),
        ),
      ),
    ),
  );
}
