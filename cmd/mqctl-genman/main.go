// Command mqctl-genman writes mqctl's man pages into the directory given
// (make man: man/).
package main

import (
	"fmt"
	"os"

	"github.com/mqctl/mqctl/cmd"
	"github.com/mqctl/mqctl/internal/manpage"
	"github.com/mqctl/mqctl/internal/output"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mqctl-genman DIR")
		os.Exit(2)
	}
	if err := manpage.Write(cmd.NewRootCmd(cmd.NewFactory(output.System())), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mqctl-genman:", err)
		os.Exit(1)
	}
}
