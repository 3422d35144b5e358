//go:build race

package fuzzbudget

// raceSlowdown allows for the race detector, which makes code 2–20 times
// slower.
const raceSlowdown = 10
