#!/usr/bin/env bash
# Installs KServe (CRDs, controller in Standard deployment mode, runtime configs) from its OCI
# Helm charts. Needs cert-manager (hack/install-cert-manager.sh). Idempotent.
#   bash hack/install-kserve.sh [--reinstall|--uninstall]
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
parse_common_args "$@"
check_cli_exist helm kubectl

CHARTS="oci://ghcr.io/kserve/charts"

if [[ "${UNINSTALL}" == true || "${REINSTALL}" == true ]]; then
  for release in kserve-runtime-configs kserve kserve-crd; do
    if helm_release_exists "${KSERVE_NAMESPACE}" "${release}"; then
      log_info "uninstalling ${release}"
      helm uninstall "${release}" --namespace "${KSERVE_NAMESPACE}" --wait
    fi
  done
fi
[[ "${UNINSTALL}" == true ]] && exit 0

log_info "installing KServe ${KSERVE_VERSION} (Standard mode)"
helm upgrade --install kserve-crd "${CHARTS}/kserve-crd" --version "${KSERVE_VERSION}" \
  --namespace "${KSERVE_NAMESPACE}" --create-namespace --wait --timeout "${WAIT_TIMEOUT}"
wait_for_crd inferenceservices.serving.kserve.io servingruntimes.serving.kserve.io
helm upgrade --install kserve "${CHARTS}/kserve-resources" --version "${KSERVE_VERSION}" \
  --namespace "${KSERVE_NAMESPACE}" --set kserve.controller.deploymentMode=Standard \
  --wait --timeout "${WAIT_TIMEOUT}"
helm upgrade --install kserve-runtime-configs "${CHARTS}/kserve-runtime-configs" \
  --version "${KSERVE_VERSION}" --namespace "${KSERVE_NAMESPACE}" --wait --timeout "${WAIT_TIMEOUT}"
wait_for_deployments "${KSERVE_NAMESPACE}"
log_success "KServe ${KSERVE_VERSION} is ready"
