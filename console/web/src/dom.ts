// A small element builder: text always goes in as text, never as HTML.

type Attr = string | number | boolean | null | undefined | ((e: Event) => void);
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, Attr> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** replace puts children in place of el's content. */
export function replace(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** labelled is a form field with its label. */
export function labelled(label: string, field: HTMLElement): HTMLElement {
  const id = field.id || (field.id = "f-" + Math.random().toString(36).slice(2, 9));
  return h("div", { class: "field" }, h("label", { for: id }, label), field);
}

export function options(values: [string, string][], selected = ""): HTMLOptionElement[] {
  return values.map(([v, text]) => h("option", { value: v, selected: v === selected }, text));
}

const fmtCache = new Map<string, Intl.DateTimeFormat>();

/** time shows an instant in a zone (the browser's by default). */
export function time(iso: string | null | undefined, tz?: string): string {
  if (!iso) return "—";
  const key = tz ?? "";
  let f = fmtCache.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(undefined, {
      dateStyle: "medium",
      timeStyle: "short",
      timeZone: tz || undefined,
    });
    fmtCache.set(key, f);
  }
  return f.format(new Date(iso));
}

export function num(v: number | string | null | undefined, digits = 3): string {
  if (v === null || v === undefined || v === "") return "—";
  const n = typeof v === "string" ? Number(v) : v;
  return Number.isFinite(n) ? n.toLocaleString(undefined, { maximumFractionDigits: digits }) : String(v);
}

/** errorBox is where a view shows the API's errors: announced to screen
 * readers, empty when all is well. */
export function errorBox(): HTMLElement & { show(msg: string | null): void } {
  const el = h("p", { class: "error", role: "alert" }) as unknown as HTMLElement & { show(msg: string | null): void };
  el.hidden = true;
  el.show = (msg) => {
    el.textContent = msg ?? "";
    el.hidden = !msg;
  };
  return el;
}
