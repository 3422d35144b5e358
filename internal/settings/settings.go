// Package settings holds the range rules the components' Validate methods
// share, so that every refused setting reads the same at startup.
package settings

import "fmt"

// Number is what a setting's size, count, rate or interval can be.
type Number interface {
	~int | ~int64 | ~float64
}

// Positive refuses a setting that is zero or negative: a size, a count or
// an interval that must exist for the component to work.
func Positive[T Number](name string, v T) error {
	if v > 0 {
		return nil
	}
	return fmt.Errorf("%s is %v: must be positive", name, v)
}

// NotNegative refuses a negative setting whose zero turns something off.
func NotNegative[T Number](name string, v T) error {
	if v >= 0 {
		return nil
	}
	return fmt.Errorf("%s is %v: must not be negative", name, v)
}
