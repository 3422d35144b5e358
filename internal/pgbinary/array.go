package pgbinary

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The array type OIDs this package reads and writes.
const (
	OIDInt4Array        = 1007
	OIDTextArray        = 1009
	OIDInt8Array        = 1016
	OIDFloat8Array      = 1022
	OIDTimestamptzArray = 1185
)

// Array is a one-dimensional array in binary form, its elements read one
// at a time and left encoded: the caller decodes each with the function
// of its type, into memory of its own.
//
// The binary form is ndim, a has-nulls flag and the element type OID
// (32 bits each), then for each dimension its length and lower bound, then
// each element as a 32-bit length (−1 for NULL) and its bytes.
type Array struct {
	rest []byte
	left int
}

// ParseArray reads the header of a one-dimensional array (or an empty
// one, which has no dimensions) of elements of type elem.
func ParseArray(src []byte, elem uint32) (Array, error) {
	if len(src) < 12 {
		return Array{}, fmt.Errorf("an array header of %d bytes", len(src))
	}
	ndim := binary.BigEndian.Uint32(src)
	if got := binary.BigEndian.Uint32(src[8:]); got != elem {
		return Array{}, fmt.Errorf("an array of type %d, not %d", got, elem)
	}
	switch ndim {
	case 0:
		return Array{}, nil
	case 1:
	default:
		return Array{}, fmt.Errorf("an array of %d dimensions", ndim)
	}
	if len(src) < 20 {
		return Array{}, fmt.Errorf("an array header of %d bytes", len(src))
	}
	n := int32(binary.BigEndian.Uint32(src[12:]))
	if n < 0 || int(n) > (len(src)-20)/4 {
		return Array{}, fmt.Errorf("an array of %d elements in %d bytes", n, len(src))
	}
	return Array{rest: src[20:], left: int(n)}, nil
}

// Len is the number of elements not read yet.
func (a *Array) Len() int { return a.left }

// Next returns the next element's bytes; a NULL is an error.
func (a *Array) Next() ([]byte, error) {
	if a.left == 0 {
		return nil, errors.New("past the array's end")
	}
	if len(a.rest) < 4 {
		return nil, errors.New("an array element cut short")
	}
	n := int32(binary.BigEndian.Uint32(a.rest))
	if n < 0 {
		return nil, errors.New("a NULL array element")
	}
	if int(n) > len(a.rest)-4 {
		return nil, fmt.Errorf("an array element of %d bytes in %d", n, len(a.rest)-4)
	}
	elem := a.rest[4 : 4+n]
	a.rest, a.left = a.rest[4+n:], a.left-1
	return elem, nil
}
