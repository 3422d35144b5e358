// Package console serves the built-in web console at GET / and the API
// reference at GET /docs: static pages built by Vite from console/web and
// embedded into the binary, so they need no network at run time.
//
// The build output (dist/) is not committed; a clean checkout embeds only
// a placeholder, and the pages then answer that the console is not built.
// `make build` builds them before the binary.
package console
