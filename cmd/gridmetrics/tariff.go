package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gridmetrics/gridmetrics/tariffs"
)

// The tariff commands are pure: they read files and need no database.

// runTariffValidate checks an OCPI tariff file and prints every problem as
// "path: message", one per line; it fails (exit status 1) when there is
// any, and prints "valid" otherwise.
func runTariffValidate(args []string, stdout, stderr io.Writer) error {
	fs, err := parseFlags("tariff validate", args, stderr, func(*binder) {})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: tariff validate takes one FILE (- for standard input)", errUsage)
	}
	name := fs.Arg(0)
	data, err := readInput(name)
	if err != nil {
		return err
	}
	if _, err := tariffs.ParseTariff(data); err != nil {
		var ve *tariffs.ValidationError
		if !errors.As(err, &ve) {
			return err
		}
		for _, p := range ve.Problems {
			fmt.Fprintln(stdout, p)
		}
		return fmt.Errorf("%s: %d %s", name, len(ve.Problems), plural(len(ve.Problems), "problem", "problems"))
	}
	fmt.Fprintln(stdout, "valid")
	return nil
}

// runTariffPrice prices an OCPI CDR's charging periods with a tariff — the
// file given, or the CDR's own — and prints the CDR with its total_* fields
// computed, as JSON. What is wrong with the CDR without stopping its pricing
// (tariffs.CDR.Warnings) goes to stderr, one "warning: path: message" a
// line, and the exit status stays 0; --strict refuses a CDR that is not
// valid OCPI.
func runTariffPrice(args []string, stdout, stderr io.Writer) error {
	var tariffFile, cdrFile, zone string
	var strict bool
	fs, err := parseFlags("tariff price", args, stderr, func(b *binder) {
		b.fs.StringVar(&cdrFile, "cdr", "", "OCPI 2.2.1 CDR file, - for standard input (required)")
		b.fs.BoolVar(&strict, "strict", false, "refuse a CDR that is not valid OCPI 2.2.1 (default: price any CDR that has what pricing needs and warn about the rest)")
		b.fs.StringVar(&tariffFile, "tariff", "", "OCPI 2.2.1 tariff file (default: the tariff the CDR carries)")
		b.fs.StringVar(&zone, "tz", "", "IANA time zone the tariff's restrictions are read in, replacing the tariff's own (OCPI takes it from the Location)")
	})
	if err != nil {
		return err
	}
	switch {
	case cdrFile == "":
		return fmt.Errorf("%w: --cdr is required", errUsage)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case cdrFile == "-" && tariffFile == "-":
		return fmt.Errorf("%w: only one of --cdr and --tariff can be standard input", errUsage)
	}
	data, err := readInput(cdrFile)
	if err != nil {
		return err
	}
	read := tariffs.ParseCDRLenient
	if strict {
		read = tariffs.ParseCDR
	}
	cdr, err := read(data)
	if err != nil {
		return invalid(cdrFile, "CDR", err)
	}
	priced, r, err := priceCDRFile(cdr, cdrFile, tariffFile, zone)
	if err != nil {
		// They may explain the failure: an unknown "x_tariffs" field.
		warn(stderr, cdr.ReadWarnings())
		return err
	}
	warn(stderr, cdr.Warnings(r))
	js, err := priced.MarshalJSON()
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, js, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = stdout.Write(out.Bytes())
	return err
}

// priceCDRFile reprices cdr, read from cdrFile, with the tariff in
// tariffFile or else its own, read in zone when one is given.
func priceCDRFile(cdr *tariffs.CDR, cdrFile, tariffFile, zone string) (*tariffs.CDR, tariffs.Result, error) {
	var t *tariffs.Tariff
	if tariffFile != "" {
		data, err := readInput(tariffFile)
		if err != nil {
			return nil, tariffs.Result{}, err
		}
		if t, err = tariffs.ParseTariff(data); err != nil {
			return nil, tariffs.Result{}, invalid(tariffFile, "tariff", err)
		}
	} else {
		var err error
		if t, err = cdr.OwnTariff(); err != nil {
			return nil, tariffs.Result{}, invalid(cdrFile, "CDR to price with its own tariff (pass --tariff FILE)", err)
		}
	}
	if zone != "" {
		if _, err := time.LoadLocation(zone); err != nil || zone == "Local" {
			return nil, tariffs.Result{}, fmt.Errorf("%w: --tz %q is not an IANA time zone", errUsage, zone)
		}
		if err := t.SetTimeZone(zone); err != nil {
			return nil, tariffs.Result{}, invalid("--tz "+zone, "tariff", err)
		}
	}
	priced, r, err := cdr.Reprice(t)
	if err != nil {
		return nil, tariffs.Result{}, invalid(cdrFile, "CDR for this tariff", err)
	}
	return priced, r, nil
}

// warn prints warnings, one "warning: path: message" a line.
func warn(w io.Writer, ps []tariffs.Problem) {
	for _, p := range ps {
		fmt.Fprintf(w, "warning: %s\n", p)
	}
}

// readInput reads a file, or standard input for "-".
func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// invalid describes a validation error with one problem per line.
func invalid(name, what string, err error) error {
	var ve *tariffs.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("%s: %w", name, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s is not a valid %s:", name, what)
	for _, p := range ve.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return errors.New(b.String())
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
