#!/usr/bin/env bash
# Regenerates go.mod for the local control plane: k8s.io/kubernetes requires its ~30 staging
# modules at the non-existent v0.0.0, so each one gets a replace to the matching v0.<minor>.<patch>.
set -euo pipefail
cd "$(dirname "$0")"
K8S_VERSION="${1:-v1.36.3}"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
export GOFLAGS=-mod=mod
gomod="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
{
  echo "module agent-warden/test/cluster"
  echo
  echo "go 1.26"
  echo
  echo "require k8s.io/kubernetes ${K8S_VERSION}"
  echo
  echo "replace ("
  grep -E '^\s+k8s.io/\S+ v0.0.0$' "$gomod" | awk '{print $1}' | sort -u | while read -r m; do
    echo "	$m => $m ${STAGING_VERSION}"
  done
  echo ")"
} > go.mod
go mod tidy
