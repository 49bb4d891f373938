// Package bench holds ferry's benchmarks against the reference path that MTC runs: rsync
// over a stunnel pair through squid with Basic auth. Every benchmark runs ferry and the
// reference on the same data in the same run, alternating, and prints both figures and their
// ratio, so a comparison holds on a noisy machine. Run them with `make bench`.
package bench
