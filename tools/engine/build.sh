#!/usr/bin/env bash
# `make engine`: build the Pulumi CLI and its Python language host from the Go module proxy,
# at the exact versions pinned in tools/engine/go.mod and tools/engine/python-host/go.mod
# (checksums in their go.sum files), into a machine-level cache keyed by those versions, and
# point the git-ignored in-repo folder (.tools/pulumi) at it.
#
# Skipped when the cache already holds binaries whose `pulumi version` equals the pin: a
# second clone on the same machine links the cache instead of rebuilding.
#
# Nothing is fetched except through the Go module proxy: GOPROXY is the machine's proxy list
# with `direct` (version-control fetches) removed, and go.sum must already cover every module
# (-mod=readonly), so no checksum-database lookups are needed either.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tools_dir="${ENGINE_TOOLS_DIR:-$repo/.tools/pulumi}"
go_bin="${GO:-}"
if [ -z "$go_bin" ]; then
  go_bin="$(command -v go || true)"
  [ -n "$go_bin" ] || go_bin=/usr/local/go/bin/go
fi
if [ ! -x "$go_bin" ]; then
  echo "make engine: no Go toolchain (looked for \`go\` on PATH and /usr/local/go/bin/go); install Go >= 1.26" >&2
  exit 1
fi

pinned() { # pinned <go.mod> <module>: the version the wrapper module requires
  awk -v m="$2" '$1 == m { print $2; exit }' "$1"
}
cli_version="$(pinned "$here/go.mod" github.com/pulumi/pulumi/pkg/v3)"
sdk_version="$(pinned "$here/go.mod" github.com/pulumi/pulumi/sdk/v3)"
host_version="$(pinned "$here/python-host/go.mod" github.com/pulumi/pulumi/sdk/v3)"
if [ -z "$cli_version" ] || [ "$cli_version" != "$sdk_version" ] || [ -z "$host_version" ]; then
  echo "make engine: tools/engine/go.mod must require pkg/v3 and sdk/v3 at one version" \
    "(found pkg/v3 '${cli_version}', sdk/v3 '${sdk_version}'), and python-host/go.mod sdk/v3 (found '${host_version}')" >&2
  exit 1
fi

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/aurora-global-infra/engine"
key="${cli_version}+python-host-${host_version}"
cache="$cache_root/$key"

answers_pin() { # answers_pin <dir>: the binaries there are the pinned build
  [ -x "$1/pulumi" ] && [ -x "$1/pulumi-language-python" ] &&
    [ -x "$1/pulumi-language-python-exec" ] && [ -x "$1/pulumi-resource-pulumi-python" ] &&
    [ "$("$1/pulumi" version 2>/dev/null)" = "$cli_version" ] &&
    [ "$(cat "$1/python-host.version" 2>/dev/null)" = "$host_version" ]
}

link_tools() {
  mkdir -p "$(dirname "$tools_dir")"
  if [ -L "$tools_dir" ] || [ ! -e "$tools_dir" ]; then
    ln -sfn "$cache" "$tools_dir"
  else
    rm -rf "$tools_dir"
    ln -sfn "$cache" "$tools_dir"
  fi
}

if answers_pin "$cache"; then
  link_tools
  echo "make engine: pulumi $cli_version (Python host $host_version) already built in $cache; linked $tools_dir"
  exit 0
fi

proxy="$("$go_bin" env GOPROXY | tr ',|' '\n\n' | grep -v -x -e direct -e off -e '' | paste -sd, -)"
if [ -z "$proxy" ]; then
  echo "make engine: \`go env GOPROXY\` names no module proxy (only direct/off); the build fetches through a proxy only" >&2
  exit 1
fi
export GOPROXY="$proxy" GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false -p=${ENGINE_BUILD_JOBS:-2}"

echo "make engine: building pulumi $cli_version and the Python language host $host_version into $cache"
echo "make engine: (a cold build downloads about 0.5 GB of modules and takes 15-35 minutes on 2 cores)"
started=$(date +%s)
staging="$cache.partial.$$"
rm -rf "$staging"
mkdir -p "$staging"
trap 'rm -rf "$staging"' EXIT

version_flag=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version
(cd "$here" && "$go_bin" build -trimpath -ldflags "-s -w -X $version_flag=$cli_version" \
  -o "$staging/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
(cd "$here/python-host" && "$go_bin" build -trimpath -ldflags "-s -w -X $version_flag=$host_version" \
  -o "$staging/pulumi-language-python" github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python)

# The host runs programs through pulumi-language-python-exec, which must sit in its own
# directory; pulumi.dynamic resources need the pulumi-resource-pulumi-python provider script.
# Both come from the CLI's sdk/v3 module (they match the Python SDK far better than 3.68's).
sdk_dir="$(cd "$here" && "$go_bin" mod download -json github.com/pulumi/pulumi/sdk/v3 |
  awk -F'"' '$2 == "Dir" { print $4 }')"
install -m 755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$staging/"
install -m 755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$staging/"
echo "$host_version" > "$staging/python-host.version"

if [ "$("$staging/pulumi" version)" != "$cli_version" ]; then
  echo "make engine: the built CLI answers \`pulumi version\` with '$("$staging/pulumi" version)', not $cli_version" >&2
  exit 1
fi
rm -rf "$cache"
mv "$staging" "$cache"
trap - EXIT
link_tools
elapsed=$(($(date +%s) - started))
echo "make engine: built in ${elapsed}s; $(du -sh "$cache" | cut -f1) in $cache; linked $tools_dir"
