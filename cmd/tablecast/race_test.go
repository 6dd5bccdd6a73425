//go:build race

package main

// raceBuild is true when the tests run under the race detector (go test
// -race): TestMain then builds the nodes the tests spawn with -race too.
const raceBuild = true
