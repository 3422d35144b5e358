// Sites and their sources, with the newest reading of every series,
// refreshed every few seconds while the view is shown.
import { describe, get, type Source } from "./api";
import { errorBox, h, labelled, num, options, replace, time } from "./dom";

interface Latest {
  source: string;
  metric: string;
  unit: string;
  time: string;
  value: number;
}

/** How often the latest values refresh themselves. */
const refreshMs = 5000;
/** The API's bound on the sources of one latest-readings request. */
const perRequest = 100;

export class OverviewView {
  readonly el: HTMLElement;
  private readonly site: HTMLSelectElement;
  private readonly error = errorBox();
  private readonly updated = h("p", { class: "status", "aria-live": "polite" });
  private readonly body = h("div", { class: "table-wrap" });
  private timer = 0;
  private latest = new Map<string, Latest[]>();

  constructor(
    private readonly sources: Source[],
    sites: string[],
    private readonly onChart: (value: string) => void,
  ) {
    this.site = h(
      "select",
      { name: "site" },
      options([...sites.map((s): [string, string] => [s, s]), ["", "Sources without a site"], ["*", "All sources"]], sites[0] ?? "*"),
    );
    this.site.addEventListener("change", () => {
      this.render();
      this.refresh();
    });
    this.el = h(
      "section",
      { "aria-labelledby": "overview-title" },
      h("h2", { id: "overview-title" }, "Sites, sources and latest values"),
      h("div", { class: "controls" }, labelled("Site", this.site)),
      this.error,
      this.updated,
      this.body,
    );
  }

  private shown(): Source[] {
    const site = this.site.value;
    return site === "*" ? this.sources : this.sources.filter((s) => (s.site_id ?? "") === site);
  }

  show(): void {
    this.render();
    this.refresh();
    this.stop();
    this.timer = window.setInterval(() => this.refresh(), refreshMs);
  }

  stop(): void {
    window.clearInterval(this.timer);
    this.timer = 0;
  }

  async refresh(): Promise<void> {
    const ids = this.shown().map((s) => s.id);
    try {
      const next = new Map<string, Latest[]>();
      for (let i = 0; i < ids.length; i += perRequest) {
        const r = await get<Latest[]>("/readings/latest", { source: ids.slice(i, i + perRequest).join(",") });
        for (const l of r.data) next.set(l.source, [...(next.get(l.source) ?? []), l]);
      }
      this.latest = next;
      this.error.show(null);
      this.updated.textContent = "Latest values, updated " + new Date().toLocaleTimeString();
      this.render();
    } catch (e) {
      this.error.show(describe(e));
    }
  }

  private render(): void {
    const site = this.site.value;
    const rows = this.shown().map((s) => {
      const values = (this.latest.get(s.id) ?? []).sort((a, b) => a.metric.localeCompare(b.metric));
      return h(
        "tr",
        { "data-source": s.external_id },
        h("th", { scope: "row" }, s.external_id),
        h("td", {}, s.name ?? ""),
        h("td", {}, s.kind),
        h("td", {}, h("code", {}, s.id)),
        h(
          "td",
          {},
          values.length
            ? h("ul", { class: "latest" }, values.map((l) =>
                h("li", { "data-metric": l.metric, "data-value": String(l.value), "data-time": l.time },
                  `${l.metric}: ${num(l.value)} ${l.unit} `, h("span", { class: "muted" }, "at " + time(l.time)))))
            : h("span", { class: "muted" }, "no readings"),
        ),
        h(
          "td",
          {},
          s.kind === "price_feed" ? "" : h("button", { type: "button", class: "link", onclick: () => this.onChart("source:" + s.id) }, "Energy chart"),
        ),
      );
    });
    replace(
      this.body,
      site && site !== "*"
        ? h("p", {}, h("button", { type: "button", class: "link", onclick: () => this.onChart("site:" + site) }, `Energy chart of site ${site}`))
        : null,
      h(
        "table",
        { class: "sources" },
        h("caption", {}, site === "*" ? "All sources" : site ? `Sources of site ${site}` : "Sources without a site"),
        h("thead", {}, h("tr", {}, ["Source", "Name", "Kind", "Id", "Latest values", ""].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows),
      ),
    );
  }
}
