// The rollup tiers' watermarks, lag and last runs (admin scope).
import { ApiError, describe, get } from "./api";
import { errorBox, h, num, replace, time } from "./dom";

interface Tier {
  tier: string;
  watermark: string | null;
  lag_seconds: number | null;
  last_run_at: string | null;
  last_duration_seconds: number | null;
  last_status: string | null;
  last_error: string | null;
}

interface Status {
  tiers: Tier[];
  pending_invalidations: number;
  oldest_invalidation: string | null;
}

export class RollupsView {
  readonly el: HTMLElement;
  private readonly error = errorBox();
  private readonly body = h("div", { class: "table-wrap" });

  constructor() {
    this.el = h(
      "section",
      { "aria-labelledby": "rollups-title" },
      h("h2", { id: "rollups-title" }, "Rollup status"),
      h("button", { type: "button", onclick: () => this.load() }, "Refresh"),
      this.error,
      this.body,
    );
  }

  async load(): Promise<void> {
    try {
      const st = (await get<Status>("/rollups/status")).data;
      this.error.show(null);
      replace(
        this.body,
        h("p", {}, `${st.pending_invalidations} pending late-data records`, st.oldest_invalidation ? `, the oldest from ${time(st.oldest_invalidation)}` : ""),
        h(
          "table",
          { class: "rollups" },
          h("caption", {}, "Tiers"),
          h("thead", {}, h("tr", {}, ["Tier", "Watermark", "Lag", "Last run", "Duration", "Status", "Error"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            st.tiers.map((t) =>
              h(
                "tr",
                { "data-tier": t.tier },
                h("th", { scope: "row" }, t.tier),
                h("td", {}, time(t.watermark)),
                h("td", { class: "n" }, t.lag_seconds === null ? "—" : `${num(t.lag_seconds / 60, 1)} min`),
                h("td", {}, time(t.last_run_at)),
                h("td", { class: "n" }, t.last_duration_seconds === null ? "—" : `${num(t.last_duration_seconds, 2)} s`),
                h("td", {}, t.last_status ?? "never run"),
                h("td", {}, t.last_error ?? ""),
              ),
            ),
          ),
        ),
      );
    } catch (e) {
      replace(this.body);
      this.error.show(
        e instanceof ApiError && e.status === 403
          ? `Rollup status needs an API key with the admin scope; this key lacks it. ${describe(e)}`
          : describe(e),
      );
    }
  }
}
