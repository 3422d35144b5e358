package sources

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gridmetrics/gridmetrics/api"
)

// Connector is what OCPI 2.2.1 says of a Connector: its standard, format
// and power type (values of OCPI's ConnectorType, ConnectorFormat and
// PowerType enums) and its maximum voltage (V), amperage (A) and electric
// power (W). A CDR's cdr_location carries them. A field is null when
// unknown; a charger's values stand for its connectors' missing ones.
type Connector struct {
	Standard         *string `json:"standard"`
	Format           *string `json:"format"`
	PowerType        *string `json:"power_type"`
	MaxVoltage       *int    `json:"max_voltage"`
	MaxAmperage      *int    `json:"max_amperage"`
	MaxElectricPower *int    `json:"max_electric_power"`
}

// ConnectorPatch updates a connector field by field: absent fields stay,
// null clears.
type ConnectorPatch struct {
	Standard         api.Nullable[string] `json:"standard"`
	Format           api.Nullable[string] `json:"format"`
	PowerType        api.Nullable[string] `json:"power_type"`
	MaxVoltage       api.Nullable[int]    `json:"max_voltage"`
	MaxAmperage      api.Nullable[int]    `json:"max_amperage"`
	MaxElectricPower api.Nullable[int]    `json:"max_electric_power"`
}

// The OCPI 2.2.1 enums a connector's attributes take (Locations module:
// ConnectorType, ConnectorFormat, PowerType), in one place.
var (
	ConnectorStandards = []string{
		"CHADEMO", "CHAOJI",
		"DOMESTIC_A", "DOMESTIC_B", "DOMESTIC_C", "DOMESTIC_D", "DOMESTIC_E", "DOMESTIC_F", "DOMESTIC_G",
		"DOMESTIC_H", "DOMESTIC_I", "DOMESTIC_J", "DOMESTIC_K", "DOMESTIC_L", "DOMESTIC_M", "DOMESTIC_N", "DOMESTIC_O",
		"GBT_AC", "GBT_DC",
		"IEC_60309_2_single_16", "IEC_60309_2_three_16", "IEC_60309_2_three_32", "IEC_60309_2_three_64",
		"IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2", "IEC_62196_T2_COMBO", "IEC_62196_T3A", "IEC_62196_T3C",
		"NEMA_5_20", "NEMA_6_30", "NEMA_6_50", "NEMA_10_30", "NEMA_10_50", "NEMA_14_30", "NEMA_14_50",
		"PANTOGRAPH_BOTTOM_UP", "PANTOGRAPH_TOP_DOWN",
		"TESLA_R", "TESLA_S",
	}
	ConnectorFormats = []string{"SOCKET", "CABLE"}
	PowerTypes       = []string{"AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"}
)

// Upper bounds of a connector's maxima: past what any charger delivers
// (the Megawatt Charging System goes to 1,250 V, 3,000 A and 3.75 MW), so
// a unit mistake (kW for W) is caught at the door.
const (
	maxVoltage       = 2_000
	maxAmperage      = 5_000
	maxElectricPower = 10_000_000
)

// empty reports whether no attribute is known.
func (c *Connector) empty() bool {
	return c == nil || c.Standard == nil && c.Format == nil && c.PowerType == nil &&
		c.MaxVoltage == nil && c.MaxAmperage == nil && c.MaxElectricPower == nil
}

// orNil is the connector as the API shows it: null when nothing is known.
func (c *Connector) orNil() *Connector {
	if c.empty() {
		return nil
	}
	return c
}

// apply writes a patch's fields onto c.
func (p *ConnectorPatch) apply(c *Connector) {
	p.Standard.Apply(&c.Standard)
	p.Format.Apply(&c.Format)
	p.PowerType.Apply(&c.PowerType)
	p.MaxVoltage.Apply(&c.MaxVoltage)
	p.MaxAmperage.Apply(&c.MaxAmperage)
	p.MaxElectricPower.Apply(&c.MaxElectricPower)
}

// validate checks each known attribute; kind is the source's, as only
// chargers and connectors have connectors.
func (c *Connector) validate(kind Kind) error {
	if c.empty() {
		return nil
	}
	if kind != KindCharger && kind != KindConnector {
		return api.Validation("connector", "a %s has no connector attributes; only chargers and connectors do", kind)
	}
	return firstError(
		validateEnum("connector.standard", c.Standard, ConnectorStandards),
		validateEnum("connector.format", c.Format, ConnectorFormats),
		validateEnum("connector.power_type", c.PowerType, PowerTypes),
		validateMaximum("connector.max_voltage", c.MaxVoltage, maxVoltage, "V"),
		validateMaximum("connector.max_amperage", c.MaxAmperage, maxAmperage, "A"),
		validateMaximum("connector.max_electric_power", c.MaxElectricPower, maxElectricPower, "W"),
	)
}

func validateEnum(field string, v *string, values []string) error {
	if v == nil || slices.Contains(values, *v) {
		return nil
	}
	s := *v
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return api.Validation(field, "%q is not one of OCPI's values (%s)", strings.ToValidUTF8(s, ""), strings.Join(values, ", "))
}

func validateMaximum(field string, v *int, limit int, unit string) error {
	if v == nil || *v >= 1 && *v <= limit {
		return nil
	}
	return api.Validation(field, "%d is out of range: 1 to %d %s", *v, limit, unit)
}

// connectorCSVColumns are a connector's columns in a CSV registration.
var connectorCSVColumns = []string{"connector_standard", "connector_format", "connector_power_type",
	"max_voltage", "max_amperage", "max_electric_power"}

// setCSV sets the attribute of a CSV column from its cell.
func (c *Connector) setCSV(col, v string) error {
	switch col {
	case "connector_standard":
		c.Standard = &v
	case "connector_format":
		c.Format = &v
	case "connector_power_type":
		c.PowerType = &v
	case "max_voltage", "max_amperage", "max_electric_power":
		n, err := strconv.Atoi(v)
		if err != nil || len(v) > 12 {
			return api.Validation("connector."+col, "%.20q is not a whole number", v)
		}
		switch col {
		case "max_voltage":
			c.MaxVoltage = &n
		case "max_amperage":
			c.MaxAmperage = &n
		default:
			c.MaxElectricPower = &n
		}
	}
	return nil
}
