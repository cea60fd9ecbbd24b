// Command hello prints its greeting: the binary BuildBinaries' test builds.
package main

import "fmt"

var greeting = "hello"

func main() { fmt.Println(greeting) }
