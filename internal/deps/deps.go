// Package deps pins the project's third-party modules while the packages
// that use them are being written. Delete once every import is real.
package deps

import (
	_ "github.com/bradleyfalzon/ghinstallation/v2"
	_ "github.com/cenkalti/backoff/v5"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/google/go-github/v66/github"
	_ "github.com/google/uuid"
	_ "github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
	_ "github.com/goreleaser/nfpm/v2/rpm"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/palantir/go-githubapp/githubapp"
	_ "github.com/pressly/goose/v3"
	_ "github.com/rhysd/actionlint"
	_ "github.com/riverqueue/river"
	_ "github.com/riverqueue/river/riverdriver/riverpgxv5"
	_ "github.com/riverqueue/river/riverdriver/riversqlite"
	_ "github.com/riverqueue/river/rivermigrate"
	_ "github.com/rs/zerolog"
	_ "github.com/sassoftware/go-rpmutils"
	_ "github.com/stretchr/testify/require"
	_ "github.com/ulikunitz/xz"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)
