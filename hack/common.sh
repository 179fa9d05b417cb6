#!/usr/bin/env bash
# Shared by every hack/ script: logging, CLI checks, environment-overridable settings and the
# common flags (--reinstall, --uninstall, --help). Source it; do not run it.
# shellcheck disable=SC2034  # settings are used by the scripts that source this file

if [[ -n "${KFP_CT_COMMON_SOURCED:-}" ]]; then
  return 0
fi
KFP_CT_COMMON_SOURCED=1

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HACK_DIR="${REPO_ROOT}/hack"

# ---- Settings (override any of them from the environment) -------------------------------------
KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-kfp-ct}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.36.1}"
KIND_CONFIG="${KIND_CONFIG:-${HACK_DIR}/kind-config.yaml}"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.17.0}"
KSERVE_VERSION="${KSERVE_VERSION:-v0.20.0}"
KSERVE_NAMESPACE="${KSERVE_NAMESPACE:-kserve}"
KFP_VERSION="${KFP_VERSION:-2.17.0}"
KUBEFLOW_NAMESPACE="${KUBEFLOW_NAMESPACE:-kubeflow}"
KFP_CT_NAMESPACE="${KFP_CT_NAMESPACE:-kfp-ct}"
KFP_CT_RELEASE="${KFP_CT_RELEASE:-kfp-ct}"
# helm (default) or kustomize: how install-kfp-ct.sh installs kfp-ct itself.
KFP_CT_INSTALL_METHOD="${KFP_CT_INSTALL_METHOD:-helm}"
KFP_CT_VERSION="${KFP_CT_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "${REPO_ROOT}/pyproject.toml")}"
KFP_CT_IMAGE="${KFP_CT_IMAGE:-ghcr.io/kfp-ct/kfp-ct:${KFP_CT_VERSION}}"
# S3 store: KFP's own SeaweedFS (service minio-service, credentials in mlpipeline-minio-artifact).
S3_ENDPOINT_HOST="${S3_ENDPOINT_HOST:-minio-service.${KUBEFLOW_NAMESPACE}.svc.cluster.local:9000}"
S3_CREDENTIALS_SECRET="${S3_CREDENTIALS_SECRET:-mlpipeline-minio-artifact}"
MLFLOW_BUCKET="${MLFLOW_BUCKET:-mlflow}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-600s}"
# helm and kubectl installed by hack/tools.sh come first on PATH.
TOOLS_BIN="${TOOLS_BIN:-${REPO_ROOT}/.tools/bin}"
export PATH="${TOOLS_BIN}:${PATH}"

# ---- Logging ------------------------------------------------------------------------------------
_log() {
  local level="$1"
  shift
  printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "${level}" "$*" >&2
}
log_info() { _log INFO "$@"; }
log_warn() { _log WARN "$@"; }
log_error() { _log ERROR "$@"; }
log_success() { _log OK "$@"; }
die() {
  log_error "$@"
  exit 1
}

# ---- Checks -------------------------------------------------------------------------------------
# check_cli_exist CLI...: fail with a hint when a command is missing.
check_cli_exist() {
  local cli missing=0
  for cli in "$@"; do
    if ! command -v "${cli}" >/dev/null 2>&1; then
      log_error "'${cli}' is not installed or not on PATH"
      case "${cli}" in
        helm | kubectl) log_error "  run: make tools   (installs both into ${TOOLS_BIN})" ;;
        kind) log_error "  see https://kind.sigs.k8s.io/docs/user/quick-start/#installation" ;;
        docker) log_error "  a Docker engine is needed to build and load the image" ;;
      esac
      missing=1
    fi
  done
  [[ "${missing}" -eq 0 ]] || exit 1
}

# ---- Common flags -------------------------------------------------------------------------------
REINSTALL=false
UNINSTALL=false

# parse_common_args "$@": sets REINSTALL / UNINSTALL, prints usage on --help.
parse_common_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --reinstall) REINSTALL=true ;;
      --uninstall) UNINSTALL=true ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) die "unknown argument: $1 (try --help)" ;;
    esac
    shift
  done
}

# usage: scripts may override it; the default prints the script's header comment.
usage() {
  sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
  printf 'Flags: --reinstall (uninstall first), --uninstall, --help\n'
}

# ---- Helpers ------------------------------------------------------------------------------------
# helm_release_exists NAMESPACE RELEASE
helm_release_exists() {
  helm status "$2" --namespace "$1" >/dev/null 2>&1
}

# wait_for_deployments NAMESPACE: wait until every Deployment in NAMESPACE is Available.
wait_for_deployments() {
  kubectl wait deployment --all --namespace "$1" --for=condition=Available --timeout="${WAIT_TIMEOUT}"
}

# wait_for_crd NAME...: wait until the CRDs are established.
wait_for_crd() {
  local crd
  for crd in "$@"; do
    kubectl wait --for=condition=Established --timeout="${WAIT_TIMEOUT}" "crd/${crd}"
  done
}
