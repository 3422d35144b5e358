package sources

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// csvColumns are the columns a CSV registration may carry, in any order;
// external_id and kind are required, an empty cell is an absent field.
var csvColumns = append([]string{"external_id", "kind", "name", "site_id", "timezone", "parent", "metadata"},
	connectorCSVColumns...)

func isCSV(c *fiber.Ctx) bool {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	return err == nil && mt == "text/csv"
}

// createManyCSV is a bulk registration as CSV with a header row, one
// source a row: the same results as the JSON form, row i at index i.
func (h handlers) createManyCSV(c *fiber.Ctx) error {
	body, err := api.ReadBody(c)
	if err != nil {
		return err
	}
	r := csv.NewReader(bytes.NewReader(body))
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return api.Validation("", "request body is empty; send a header row and one source a row")
	}
	if err != nil {
		return api.Validation("", "malformed CSV: %v", err)
	}
	for _, col := range header {
		if !slices.Contains(csvColumns, col) {
			return api.Validation(col, "unknown column (use %s)", strings.Join(csvColumns, ", "))
		}
	}
	for _, col := range []string{"external_id", "kind"} {
		if !slices.Contains(header, col) {
			return api.Validation(col, "column is required")
		}
	}
	var items []BulkItem
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return api.Validation("", "malformed CSV: %v", err)
		}
		if len(items) == MaxBulk {
			return tooMany(MaxBulk + 1)
		}
		items = append(items, csvItem(header, row))
	}
	if len(items) == 0 {
		return api.Validation("", "no sources after the header row")
	}
	out, err := h.st.CreateMany(c.UserContext(), auth.PrincipalOf(c).TenantID, items)
	if err != nil {
		return err
	}
	return api.OK(c, out)
}

// csvItem reads one row; a cell that cannot be read makes the item
// rejected, as a JSON item of the wrong type would be.
func csvItem(header, row []string) BulkItem {
	var n NewSource
	var c Connector
	for i, col := range header {
		v := row[i]
		if v == "" {
			continue
		}
		switch col {
		case "external_id":
			n.ExternalID = v
		case "kind":
			n.Kind = Kind(v)
		case "name":
			n.Name = v
		case "site_id":
			n.SiteID = &v
		case "timezone":
			n.Timezone = v
		case "parent":
			n.Parent = &v
		case "metadata":
			n.Metadata = json.RawMessage(v)
		default:
			if err := c.setCSV(col, v); err != nil {
				return BulkItem{Invalid: api.AsError(err)}
			}
		}
	}
	n.Connector = c.orNil()
	return BulkItem{Source: n}
}
