//go:build !linux

package detect

import "errors"

// Uname is only available on Linux; elsewhere give --kernel-release and --arch.
func Uname() (release, machine string, err error) {
	return "", "", errors.New("uname: driver-loader runs on Linux only")
}
