// Charging sessions: the list, and one session with its price, signature
// state and OCPI CDR.
import { describe, get } from "./api";
import { linesTable } from "./cost";
import { errorBox, h, labelled, num, options, replace, time } from "./dom";

interface Session {
  id: string;
  external_id: string;
  source_external_id: string;
  site_id: string | null;
  id_tag: string | null;
  status: string;
  start_time: string;
  stop_time: string | null;
  energy_kwh: string | null;
  currency: string | null;
  total_excl_vat: string | null;
  total_incl_vat: string | null;
  failure_reason: string | null;
  signature_state?: string;
  tariff?: string | null;
  price?: { lines: Parameters<typeof linesTable>[0] };
}

const pageSize = 25;

export class SessionsView {
  readonly el: HTMLElement;
  private readonly status = h(
    "select",
    { name: "status" },
    options([["", "Any status"], ["active", "Active"], ["completed", "Completed"], ["priced", "Priced"], ["failed", "Failed"]]),
  );
  private readonly error = errorBox();
  private readonly list = h("tbody");
  private readonly more = h("button", { type: "button", hidden: true }, "More sessions");
  private readonly detail = h("div", { class: "detail", "aria-live": "polite" });
  private cursor = "";

  constructor() {
    this.status.addEventListener("change", () => this.load());
    this.more.addEventListener("click", () => this.load(this.cursor));
    this.el = h(
      "section",
      { "aria-labelledby": "sessions-title" },
      h("h2", { id: "sessions-title" }, "Charging sessions"),
      h("div", { class: "controls" }, labelled("Status", this.status)),
      this.error,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "sessions" },
          h("caption", {}, "Sessions, most recently changed last"),
          h("thead", {}, h("tr", {}, ["Session", "Connector", "Start", "Stop", "Status", "Energy (kWh)", "Total incl. VAT", ""].map((t) => h("th", { scope: "col" }, t)))),
          this.list,
        ),
      ),
      this.more,
      this.detail,
    );
  }

  async load(cursor = ""): Promise<void> {
    try {
      const r = await get<Session[]>("/sessions", { limit: pageSize, status: this.status.value, cursor });
      this.error.show(null);
      if (!cursor) replace(this.list);
      this.list.append(...r.data.map((s) => this.row(s)));
      this.cursor = r.pagination?.next_cursor ?? "";
      this.more.hidden = !r.pagination?.has_more;
    } catch (e) {
      this.error.show(describe(e));
    }
  }

  private row(s: Session): HTMLTableRowElement {
    return h(
      "tr",
      { "data-session": s.id },
      h("th", { scope: "row" }, s.external_id),
      h("td", {}, s.source_external_id),
      h("td", {}, time(s.start_time)),
      h("td", {}, time(s.stop_time)),
      h("td", {}, s.status, s.failure_reason ? h("span", { class: "muted" }, ": " + s.failure_reason) : null),
      h("td", { class: "n" }, num(s.energy_kwh, 4)),
      h("td", { class: "n" }, s.total_incl_vat ? `${s.total_incl_vat} ${s.currency ?? ""}` : "—"),
      h("td", {}, h("button", { type: "button", class: "link", onclick: () => this.open(s.id) }, "Details and CDR")),
    );
  }

  async open(id: string): Promise<void> {
    replace(this.detail, h("p", {}, "Loading session " + id + "…"));
    try {
      const s = (await get<Session>("/sessions/" + encodeURIComponent(id))).data;
      let cdr: HTMLElement;
      try {
        const c = (await get<unknown>(`/sessions/${encodeURIComponent(id)}/cdr`)).data;
        cdr = h("pre", { class: "cdr", tabindex: 0, "aria-label": "OCPI CDR" }, JSON.stringify(c, null, 2));
      } catch (e) {
        cdr = h("p", { class: "error", role: "alert" }, describe(e));
      }
      const heading = h("h3", { id: "session-detail-title", tabindex: -1 }, `Session ${s.external_id}`);
      replace(
        this.detail,
        heading,
        h(
          "dl",
          { class: "facts" },
          fact("Id", s.id),
          fact("Connector", s.source_external_id),
          fact("Status", s.status),
          fact("Signature", h("span", { class: "signature-" + (s.signature_state ?? "unknown"), "data-signature": s.signature_state ?? "" }, s.signature_state ?? "—")),
          fact("Tariff", s.tariff ?? "—"),
          fact("Energy", `${num(s.energy_kwh, 4)} kWh`),
          fact("Total", s.total_incl_vat ? `${s.total_excl_vat} excl. / ${s.total_incl_vat} incl. VAT ${s.currency}` : "—"),
        ),
        s.price ? linesTable(s.price.lines, undefined, s.currency ?? "") : null,
        h("h4", {}, "OCPI 2.2.1 CDR"),
        cdr,
      );
      heading.focus();
    } catch (e) {
      replace(this.detail, h("p", { class: "error", role: "alert" }, describe(e)));
    }
  }
}

function fact(term: string, value: Node | string): HTMLElement[] {
  return [h("dt", {}, term), h("dd", {}, value)];
}
