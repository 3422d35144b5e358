// The pickers the energy and cost views share: what to look at (a site or a
// source), over which period, in which time zone.
import type { Source } from "./api";
import { h, labelled, options } from "./dom";

export interface Subject {
  kind: "site" | "source";
  id: string; // a site id, or a source's src_… id
  label: string;
}

export function subjectPicker(sources: Source[], sites: string[]): HTMLSelectElement {
  const sel = h("select", { name: "subject" });
  if (sites.length) {
    sel.append(h("optgroup", { label: "Sites" }, sites.map((s) => h("option", { value: "site:" + s }, s))));
  }
  const metered = sources.filter((s) => s.kind !== "price_feed");
  sel.append(
    h(
      "optgroup",
      { label: "Sources" },
      metered.map((s) => h("option", { value: "source:" + s.id }, `${s.external_id}${s.name ? " — " + s.name : ""}`)),
    ),
  );
  return sel;
}

export function subjectOf(sel: HTMLSelectElement): Subject {
  const [kind, ...rest] = sel.value.split(":");
  const id = rest.join(":");
  return { kind: kind === "site" ? "site" : "source", id, label: sel.selectedOptions[0]?.textContent ?? id };
}

/** The API path of a subject's resource: /sites/{id}/… or /sources/{id}/…. */
export function subjectPath(s: Subject, resource: string): string {
  return `/${s.kind === "site" ? "sites" : "sources"}/${encodeURIComponent(s.id)}/${resource}`;
}

/** zonePicker offers the API's default zone, which defaultLabel names, and
 * every zone the browser knows. */
export function zonePicker(defaultLabel: string): HTMLSelectElement {
  let zones: string[] = [];
  try {
    zones = (Intl as unknown as { supportedValuesOf(k: string): string[] }).supportedValuesOf("timeZone");
  } catch {
    zones = ["Europe/Berlin", "Europe/London"];
  }
  if (!zones.includes("UTC")) zones = ["UTC", ...zones];
  return h(
    "select",
    { name: "tz" },
    options([["", defaultLabel], ...zones.map((z): [string, string] => [z, z])]),
  );
}

/** A period: two datetime-local inputs (the browser's local time) and
 * shortcuts that fill them. */
export class Period {
  readonly from = h("input", { type: "datetime-local", name: "from", required: true });
  readonly to = h("input", { type: "datetime-local", name: "to", required: true });
  readonly el: HTMLElement;

  constructor(days: number, onPick: () => void) {
    const shortcut = (label: string, d: number) =>
      h("button", {
        type: "button",
        class: "link",
        onclick: () => {
          this.last(d);
          onPick();
        },
      }, label);
    this.el = h(
      "div",
      { class: "period" },
      labelled("From", this.from),
      labelled("To", this.to),
      h("div", { class: "shortcuts", role: "group", "aria-label": "Period shortcuts" },
        shortcut("Last 24 hours", 1), shortcut("Last 7 days", 7), shortcut("Last 30 days", 30)),
    );
    this.last(days);
  }

  /** last sets the period to the days before the coming hour. */
  last(days: number): void {
    const end = new Date();
    end.setMinutes(0, 0, 0);
    end.setHours(end.getHours() + 1);
    const start = new Date(end.getTime() - days * 86400e3);
    this.from.value = local(start);
    this.to.value = local(end);
  }

  /** range is the period as RFC 3339 instants, or an error message. */
  range(): { from: string; to: string } | string {
    const f = new Date(this.from.value);
    const t = new Date(this.to.value);
    if (isNaN(f.getTime()) || isNaN(t.getTime())) return "Choose a start and an end.";
    if (t <= f) return "The end must come after the start.";
    return { from: f.toISOString(), to: t.toISOString() };
  }
}

function local(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
