// Package grafana holds Gridmetrics' Grafana provisioning: the PostgreSQL
// data source (provisioning/datasources), the dashboard provider
// (provisioning/dashboards) and the dashboard itself (dashboards). Its test
// expands every query of the dashboard as Grafana's PostgreSQL data source
// does and runs it against a test database holding known data.
package grafana
