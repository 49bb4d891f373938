// Command treetool generates, changes and compares directory trees for `make demo`.
//
//	treetool gen [--small N] [--large N] [--large-size SIZE] [--fidelity] DIR
//	treetool mutate DIR
//	treetool compare A B
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ferrydvm/ferry/internal/treediff"
	"github.com/ferrydvm/ferry/internal/treegen"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "mutate":
		err = mutate(os.Args[2:])
	case "compare":
		err = compare(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "treetool:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: treetool gen [--small N] [--large N] [--large-size SIZE] [--fidelity] DIR | mutate DIR | compare A B")
	os.Exit(2)
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	small := fs.Int("small", 5000, "small files (4 KiB)")
	large := fs.Int("large", 2, "large files of random data")
	largeSize := fs.String("large-size", "32MiB", "size of each large file")
	fidelity := fs.Bool("fidelity", false, "add one of every kind of object and attribute (needs root)")
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	size, err := parseSize(*largeSize)
	if err != nil {
		return err
	}
	st, err := treegen.Generate(context.Background(), fs.Arg(0), treegen.Spec{SmallFiles: *small, LargeFiles: *large, LargeSize: size, Seed: 1, Fidelity: *fidelity})
	if err != nil {
		return err
	}
	fmt.Printf("generated %d files (%.1f MiB), %d directories, %d symlinks, %d FIFOs and devices\n",
		st.Files, float64(st.Bytes)/(1<<20), st.Dirs, st.Symlinks, st.Special)
	return nil
}

func parseSize(s string) (int64, error) {
	for suffix, mult := range map[string]int64{"GiB": 1 << 30, "MiB": 1 << 20, "KiB": 1 << 10} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * mult, err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func mutate(args []string) error {
	if len(args) != 1 {
		usage()
	}
	m, err := treegen.MutateReport(args[0], 20, 7)
	if err != nil {
		return err
	}
	fmt.Printf("changed the source: %s\n", m)
	return nil
}

func compare(args []string) error {
	if len(args) != 2 {
		usage()
	}
	diffs, err := treediff.Compare(context.Background(), args[0], args[1], treediff.Options{})
	if err != nil {
		return err
	}
	if len(diffs) == 0 {
		fmt.Println("identical: every entry matches in kind, content, size, owner, mode, times (ns), links, hard links, xattrs, ACLs and holes")
		return nil
	}
	for i, d := range diffs {
		if i == 20 {
			fmt.Printf("... and %d more\n", len(diffs)-20)
			break
		}
		fmt.Printf("%s: %s %s\n", d.Path, d.What, d.Detail)
	}
	return fmt.Errorf("%d differences", len(diffs))
}
