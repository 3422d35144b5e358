// The API client: the key lives in sessionStorage (gone with the tab) and
// travels in the Authorization header only, never in a URL.

const keyItem = "gridmetrics.apiKey";

export function storedKey(): string | null {
  return sessionStorage.getItem(keyItem);
}

export function storeKey(key: string): void {
  sessionStorage.setItem(keyItem, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(keyItem);
}

/** ApiError is the API's error envelope ({"error":{"code","message"}}), or
 * what went wrong reaching it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  /** What the user reads: the API's own message and code. */
  describe(): string {
    return this.code ? `${this.message} (${this.code}, HTTP ${this.status})` : this.message;
  }
}

export interface Envelope<T> {
  data: T;
  meta?: Record<string, unknown>;
  pagination?: { total_pages?: number; next_cursor?: string; has_more?: boolean };
}

export type Params = Record<string, string | number | undefined | null>;

/** get calls GET /v1{path} with params, signed with key (the stored one by
 * default), and returns the envelope, or throws an ApiError. */
export async function get<T>(path: string, params: Params = {}, key = storedKey()): Promise<Envelope<T>> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const url = "/v1" + path + (q.size ? "?" + q.toString() : "");
  let resp: Response;
  try {
    resp = await fetch(url, {
      headers: { Authorization: "Bearer " + (key ?? ""), Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch (e) {
    throw new ApiError(0, "", `The server cannot be reached: ${(e as Error).message}`);
  }
  let body: unknown = null;
  try {
    body = await resp.json();
  } catch {
    // Not JSON: a proxy's page, or a cut connection.
  }
  if (!resp.ok) {
    const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(resp.status, err?.code ?? "", err?.message ?? `HTTP ${resp.status} ${resp.statusText}`);
  }
  if (body === null) {
    throw new ApiError(resp.status, "", "The server answered something that is not JSON");
  }
  return body as Envelope<T>;
}

/** describe turns anything thrown into a message for the user. */
export function describe(e: unknown): string {
  return e instanceof ApiError ? e.describe() : String((e as Error)?.message ?? e);
}

export interface Source {
  id: string;
  external_id: string;
  kind: string;
  name: string | null;
  site_id: string | null;
  timezone: string;
  parent: string | null;
}

/** sources lists every source of the tenant, page by page. */
export async function allSources(key?: string): Promise<Source[]> {
  const out: Source[] = [];
  for (let page = 1; ; page++) {
    const r = await get<Source[]>("/sources", { limit: 100, page, sort: "external_id" }, key);
    out.push(...r.data);
    if (!r.pagination?.total_pages || page >= r.pagination.total_pages) return out;
  }
}
