package main

import (
	"context"
	"fmt"
	"io"
)

func runDemo(ctx context.Context, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "waitroom demo: not available in this build")
	return 1
}
