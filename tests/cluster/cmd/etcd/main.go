// Command etcd is the etcd server, built from the go.etcd.io/etcd/server/v3
// module that the pinned Kubernetes release selects. It exists only so the
// binary is named "etcd": building the module's own root package would name it
// after the last path element, "v3".
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
