package sources

// Metric is an entry of the metric catalogue: what a reading measures and
// in which unit values are stored (units are normalised on ingest).
type Metric struct {
	ID   int16  `json:"-"`
	Name string `json:"name"`
	Unit string `json:"unit"`
	// Kind is "counter" (a register that only grows, such as energy) or
	// "gauge" (an instantaneous value, such as power).
	Kind        string `json:"kind"`
	Description string `json:"description"`
}
