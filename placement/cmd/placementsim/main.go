// Command placementsim compares the placement package's VRRP priority scheme
// with the original bash image's algorithm and prints a markdown table.
//
//	go run ./placement/cmd/placementsim [-runs 2000] [-seed 1]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ipfailover/ipfailover/placement/internal/sim"
)

func main() {
	runs := flag.Int("runs", 2000, "random node-address sets per case")
	seed := flag.Int64("seed", 1, "random seed; the same seed prints the same table")
	flag.Parse()
	if *runs < 1 {
		fmt.Fprintf(os.Stderr, "placementsim: -runs %d: must be at least 1\n", *runs)
		os.Exit(2)
	}

	results := sim.Simulate(sim.DefaultCases(), *runs, *seed)
	fmt.Printf("Node addresses: %d sets of distinct random IPv4 addresses in 192.0.2.1-192.0.2.254 per case, "+
		"seed %d; OPENSHIFT_HA_REPLICA_COUNT = N. \"ours\" and \"orig\" are multicast mode (node set unknown); "+
		"\"unicast\" is ours with the node set known. Load = groups a node masters.\n\n", *runs, *seed)
	fmt.Print(sim.Table(results))
}
