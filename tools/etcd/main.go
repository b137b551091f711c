// Command etcd is upstream etcd's server entry point, built from the published
// go.etcd.io/etcd/server/v3 module (the root go.etcd.io/etcd/v3 module, which holds
// upstream's own main.go, uses local replaces and cannot be built from the proxy).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
