package appsetup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/riptides/driverbuild/handlers"
)

// TokenHash reads a token (its first line) and returns the hash that
// api.clients keeps of it.
func TokenHash(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the token: %w", err)
	}
	token := strings.TrimRight(line, "\r\n")
	switch {
	case token == "":
		return "", errors.New("no token on standard input: pipe one in, such as: openssl rand -hex 32 | tee token | build-service hash-token")
	case strings.TrimSpace(token) != token:
		return "", errors.New("the token starts or ends with white space, which a client would not send in its Authorization header")
	}
	return handlers.HashToken(token), nil
}
