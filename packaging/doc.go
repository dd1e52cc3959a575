// Package packaging holds what installs parley elsewhere than a source
// tree: the systemd unit (parley.service) and the container image's
// configuration (docker.toml; the Dockerfile is at the top of the
// repository). It has no code; its tests check these files: the unit with
// systemd-analyze verify, the image's build command against make release's,
// and its configuration and ports against the configuration schema.
package packaging
