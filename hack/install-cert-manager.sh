#!/usr/bin/env bash
# Installs cert-manager (KServe's webhooks need it) with its Helm chart. Idempotent.
#   bash hack/install-cert-manager.sh [--reinstall|--uninstall]
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
parse_common_args "$@"
check_cli_exist helm kubectl

NAMESPACE="${CERT_MANAGER_NAMESPACE:-cert-manager}"

if [[ "${UNINSTALL}" == true || "${REINSTALL}" == true ]] \
  && helm_release_exists "${NAMESPACE}" cert-manager; then
  log_info "uninstalling cert-manager"
  helm uninstall cert-manager --namespace "${NAMESPACE}" --wait
fi
[[ "${UNINSTALL}" == true ]] && exit 0

log_info "installing cert-manager ${CERT_MANAGER_VERSION}"
helm upgrade --install cert-manager cert-manager --repo https://charts.jetstack.io \
  --version "${CERT_MANAGER_VERSION}" --namespace "${NAMESPACE}" --create-namespace \
  --set crds.enabled=true --wait --timeout "${WAIT_TIMEOUT}"
wait_for_deployments "${NAMESPACE}"
log_success "cert-manager ${CERT_MANAGER_VERSION} is ready"
