package main

import (
	"cmp"
	"strings"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/auth/clientconfig"
)

// endpoint is the server and token a client command uses: --url/--token (or ATTUNE_URL,
// ATTUNE_TOKEN) first, then the CLI config file, which `attune serve` writes on its first
// start. The file's token is only ever sent to the file's server: pointing --url at another
// server never leaks it there.
func (f *clientFlags) endpoint() (url, token string, err error) {
	var file clientconfig.File
	path := f.Config
	if path == "" {
		path, err = clientconfig.DefaultPath() // fails only without a home directory: no file then
	}
	if err == nil {
		if file, err = clientconfig.Load(path); err != nil {
			return "", "", err
		}
	}
	fileURL := cmp.Or(file.URL, apiclient.DefaultURL)
	url = cmp.Or(f.URL, fileURL)
	token = f.Token
	if token == "" && strings.TrimRight(url, "/") == strings.TrimRight(fileURL, "/") {
		token = file.Token
	}
	return url, token, nil
}
