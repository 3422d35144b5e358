// The API reference: Swagger UI rendering GET /v1/openapi.json. "Try it
// out" calls this same server: it is put first among the document's
// servers (the page's Content-Security-Policy allows no other origin).
import SwaggerUIBundle from "swagger-ui-dist/swagger-ui-es-bundle.js";
import "swagger-ui-dist/swagger-ui.css";

const root = document.getElementById("reference")!;

async function load(): Promise<void> {
  const resp = await fetch("/v1/openapi.json", { headers: { Accept: "application/json" } });
  if (!resp.ok) {
    throw new Error(`GET /v1/openapi.json answered HTTP ${resp.status}`);
  }
  const spec = (await resp.json()) as { servers?: { url: string; description?: string }[] };
  const here = { url: location.origin, description: "this server" };
  spec.servers = [here, ...(spec.servers ?? []).filter((s) => s.url !== here.url)];
  root.textContent = "";
  SwaggerUIBundle({
    spec,
    domNode: root,
    deepLinking: true,
    // The key typed into "Authorize" lives in this page only.
    persistAuthorization: false,
    // No validator badge: it would call a third-party service.
    validatorUrl: null,
  });
}

load().catch((e: Error) => {
  const p = document.createElement("p");
  p.setAttribute("role", "alert");
  p.className = "error";
  p.textContent = `The OpenAPI document could not be loaded: ${e.message}`;
  root.replaceChildren(p);
});
