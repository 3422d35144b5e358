//go:build !race

package fuzzbudget

const raceSlowdown = 1
