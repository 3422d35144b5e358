package sources

import (
	"testing"
)

func TestConnectorValidate(t *testing.T) {
	t.Parallel()
	full := func() *Connector {
		return &Connector{Standard: ptr("IEC_62196_T2"), Format: ptr("SOCKET"), PowerType: ptr("AC_3_PHASE"),
			MaxVoltage: ptr(400), MaxAmperage: ptr(32), MaxElectricPower: ptr(22000)}
	}
	tests := []struct {
		name      string
		kind      Kind
		edit      func(c *Connector) *Connector
		wantField string
	}{
		{name: "full connector", kind: KindConnector, edit: func(c *Connector) *Connector { return c }},
		{name: "a charger's defaults", kind: KindCharger, edit: func(c *Connector) *Connector { return c }},
		{name: "none", kind: KindMeter, edit: func(*Connector) *Connector { return nil }},
		{name: "all null", kind: KindMeter, edit: func(*Connector) *Connector { return &Connector{} }},
		{name: "only a standard", kind: KindConnector, edit: func(*Connector) *Connector { return &Connector{Standard: ptr("CHADEMO")} }},
		{name: "DC combo", kind: KindConnector, edit: func(c *Connector) *Connector {
			c.Standard, c.Format, c.PowerType, c.MaxVoltage, c.MaxAmperage, c.MaxElectricPower = ptr("IEC_62196_T2_COMBO"), ptr("CABLE"), ptr("DC"), ptr(920), ptr(500), ptr(350000)
			return c
		}},
		{name: "on a meter", kind: KindMeter, edit: func(c *Connector) *Connector { return c }, wantField: "connector"},
		{name: "unknown standard", kind: KindConnector, edit: func(c *Connector) *Connector { c.Standard = ptr("TYPE2"); return c }, wantField: "connector.standard"},
		{name: "standard in lower case", kind: KindConnector, edit: func(c *Connector) *Connector { c.Standard = ptr("iec_62196_t2"); return c }, wantField: "connector.standard"},
		{name: "empty format", kind: KindConnector, edit: func(c *Connector) *Connector { c.Format = ptr(""); return c }, wantField: "connector.format"},
		{name: "unknown power type", kind: KindConnector, edit: func(c *Connector) *Connector { c.PowerType = ptr("AC_4_PHASE"); return c }, wantField: "connector.power_type"},
		{name: "zero voltage", kind: KindConnector, edit: func(c *Connector) *Connector { c.MaxVoltage = ptr(0); return c }, wantField: "connector.max_voltage"},
		{name: "negative amperage", kind: KindConnector, edit: func(c *Connector) *Connector { c.MaxAmperage = ptr(-32); return c }, wantField: "connector.max_amperage"},
		{name: "power in mW", kind: KindConnector, edit: func(c *Connector) *Connector { c.MaxElectricPower = ptr(22_000_000_000); return c }, wantField: "connector.max_electric_power"},
		{name: "voltage past the limit", kind: KindConnector, edit: func(c *Connector) *Connector { c.MaxVoltage = ptr(maxVoltage + 1); return c }, wantField: "connector.max_voltage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.edit(full()).validate(tt.kind)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			wantValidation(t, err, tt.wantField)
		})
	}
}

func TestNewSourceValidatesConnector(t *testing.T) {
	t.Parallel()
	n := validNewSource()
	n.Connector = &Connector{PowerType: ptr("AC")}
	wantValidation(t, n.validate(), "connector.power_type")
}

func TestConnectorCSVCells(t *testing.T) {
	t.Parallel()
	var c Connector
	for col, v := range map[string]string{"connector_standard": "IEC_62196_T2", "connector_format": "CABLE",
		"connector_power_type": "AC_1_PHASE", "max_voltage": "230", "max_amperage": "16", "max_electric_power": "3700"} {
		if err := c.setCSV(col, v); err != nil {
			t.Fatalf("%s=%s: %v", col, v, err)
		}
	}
	if *c.Standard != "IEC_62196_T2" || *c.Format != "CABLE" || *c.PowerType != "AC_1_PHASE" || *c.MaxVoltage != 230 || *c.MaxAmperage != 16 || *c.MaxElectricPower != 3700 {
		t.Fatalf("connector %+v", c)
	}
	for _, v := range []string{"16A", "1e3", "3.5", "99999999999999999999999"} {
		wantValidation(t, c.setCSV("max_amperage", v), "connector.max_amperage")
	}
}
