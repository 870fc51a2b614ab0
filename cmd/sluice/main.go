package main

import (
	_ "github.com/ProtonMail/go-crypto/openpgp/v2"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/labstack/echo/v5"
	_ "github.com/pressly/goose/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/getkin/kin-openapi/openapi3"
	_ "github.com/knadh/koanf/v2"
	_ "github.com/knadh/koanf/parsers/yaml"
	_ "github.com/knadh/koanf/providers/file"
	_ "github.com/knadh/koanf/providers/env/v2"
	_ "github.com/knadh/koanf/providers/structs"
	_ "github.com/stretchr/testify/require"
	_ "golang.org/x/crypto/argon2"
	_ "modernc.org/sqlite"
	_ "github.com/oklog/ulid/v2"
	_ "golang.org/x/sync/errgroup"
)

func main() {}
