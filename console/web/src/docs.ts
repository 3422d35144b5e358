// The API reference: Swagger UI rendering GET /v1/openapi.json, with
// "Try it out" against this same server.
import SwaggerUIBundle from "swagger-ui-dist/swagger-ui-es-bundle.js";
import "swagger-ui-dist/swagger-ui.css";

const root = document.getElementById("reference")!;
root.textContent = "";
SwaggerUIBundle({
  url: "/v1/openapi.json",
  domNode: root,
  deepLinking: true,
  // The key typed into "Authorize" lives in this page only.
  persistAuthorization: false,
  tryItOutEnabled: false,
  // No validator badge: it would call a third-party service.
  validatorUrl: null,
});
