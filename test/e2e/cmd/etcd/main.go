// Command etcd is the upstream etcd server, built from go.etcd.io/etcd/server/v3
// at the version pinned in test/e2e/go.mod, for ferry's end-to-end tests. Build it
// with test/e2e/build-apiserver.sh.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
