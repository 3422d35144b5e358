import { resolve } from "node:path";
import { defineConfig } from "vite";

// Two pages: the console (index.html, served at /) and the API reference
// (docs/index.html, served at /docs). The output goes to ../dist, which the
// Go package embeds; every asset name carries a hash of its content.
export default defineConfig({
  base: "/",
  build: {
    outDir: "../dist",
    emptyOutDir: true,
    // The Go server serves /assets/* only: keep every file there, none inlined
    // as a data: URL a strict Content-Security-Policy would refuse.
    assetsInlineLimit: 0,
    // Swagger UI is one large bundle; it loads on /docs only.
    chunkSizeWarningLimit: 2048,
    sourcemap: false,
    rollupOptions: {
      input: {
        console: resolve(import.meta.dirname, "index.html"),
        docs: resolve(import.meta.dirname, "docs/index.html"),
      },
    },
  },
});
