// Package costs prices the energy of meters: a source's, or a site's summed
// over its members, per 15-minute settlement interval with the supply and
// export tariffs assigned to it (or one tariff given), the lines grouped
// into local days or months with exact and invoice totals.
//
// It joins query (the energy engine and a site's members), sources (the
// meters and price feeds) and tariffs (the tariffs, their assignments and
// the pricing engine), so that tariffs needs neither of the others. cost.go
// holds the pure part — how stretches are cut, lines filed into buckets and
// totals summed; service.go reads the database; http.go has the routes.
package costs
