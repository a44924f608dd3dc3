#!/usr/bin/env bash
# Installs the real peer tools the tests and benchmarks run against (Debian packages), or fails
# with one line naming what to install. Called by `npm test` and `npm run bench`.
set -euo pipefail
need=()
command -v fsverity >/dev/null || need+=(fsverity)
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v oci-image-tool >/dev/null || need+=(oci-image-tool)
command -v setfattr >/dev/null || need+=(attr)
command -v zsh >/dev/null || need+=(zsh)
command -v fish >/dev/null || need+=(fish)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v xz >/dev/null || need+=(xz-utils)
command -v zstd >/dev/null || need+=(zstd)
command -v fsck.erofs >/dev/null || need+=(erofs-utils)
[ -x /usr/bin/time ] || need+=(time)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test setup: installing ${need[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  exit 0
fi
echo "test setup: missing tools; install the Debian packages: ${need[*]} (apt-get install ${need[*]})" >&2
exit 1
