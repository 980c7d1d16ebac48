// Command etcd is etcd's own main: etcd v3.7 publishes no main package as a module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
