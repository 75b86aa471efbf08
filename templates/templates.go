// Package templates holds the embedded keepalived.conf template. It lives in
// its own package because //go:embed cannot reach files outside the package
// directory.
package templates

import _ "embed"

// Keepalived is the default keepalived.conf template, executed by package
// render over a render.Data value.
//
//go:embed keepalived.conf.tmpl
var Keepalived string
