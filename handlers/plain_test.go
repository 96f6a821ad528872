package handlers

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// plainObject takes only bodies checkObject accepts: the fast read must
// never let through what the strict one refuses.
func TestPlainObject(t *testing.T) {
	t.Parallel()
	for body, plain := range map[string]bool{
		`{"kernel_version":"6.8.0-1053-gcp","architecture":"x86_64","distribution":"ubuntu","distro_version":"24.04","driver_version":"v0.1.2"}`: true,
		" {\n\t\"kernel_version\" : \"6.8.0\" , \"distro_version\": null }\r\n":                                                                  true,
		`{}`:                                 true,
		`{"kernel_version":"a\"b\\c\u0041"}`: true,
		`{"kernel_version":"6.8","kernel_version":"6.9"}`: false,
		`{"Kernel_version":"6.8"}`:                        false,
		`{"kernel\u005fversion":"6.8"}`:                   false,
		`{"kernel_version":6.8}`:                          false,
		`{"kernel_version":"6.8"} x`:                      false,
		`{"kernel_version":"6.8"`:                         false,
		`{"kernel_version":"6.8",}`:                       false,
		`{"kernel_version":nullx}`:                        false,
		"{\"kernel_version\":\"6.8\n\"}":                  false,
		`[]`:                                              false,
		`{"evil":"x"}`:                                    false,
	} {
		require.Equal(t, plain, plainObject([]byte(body)), "%s", body)
		if plain {
			_, err := checkObject([]byte(body))
			require.NoError(t, err, "%s", body)
		}
	}
}

func FuzzPlainObject(f *testing.F) {
	f.Add(`{"kernel_version":"6.8.0-1053-gcp","architecture":"x86_64"}`)
	f.Add(`{"distro_version":null,"driver_version":"v0.1.2"}`)
	f.Fuzz(func(t *testing.T, body string) {
		if plainObject([]byte(body)) && json.Valid([]byte(body)) {
			if _, err := checkObject([]byte(body)); err != nil {
				t.Fatalf("%q: plain, but checkObject says %v", body, err)
			}
		}
	})
}
