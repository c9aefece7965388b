package main

import (
	"os"

	"github.com/mqctl/mqctl/cmd"
)

func main() { os.Exit(cmd.Main()) }
