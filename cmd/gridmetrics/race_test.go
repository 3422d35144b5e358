//go:build race

package main

// raceBuild is true when the tests, and the server processes they start
// from the same binary, are race-instrumented: several times the memory
// and time.
const raceBuild = true
