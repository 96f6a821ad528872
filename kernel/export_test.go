package kernel

var ReleaseSyntax = releaseSyntax
