#!/usr/bin/env bash
# Installs Kubeflow Pipelines standalone (platform-agnostic: Argo, MySQL, SeaweedFS as the S3
# store) from the upstream kustomize manifests. Idempotent (kubectl apply).
#   bash hack/install-kfp.sh [--reinstall|--uninstall]
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
parse_common_args "$@"
check_cli_exist kubectl

BASE="github.com/kubeflow/pipelines/manifests/kustomize"
CLUSTER_SCOPED="${BASE}/cluster-scoped-resources?ref=${KFP_VERSION}"
PLATFORM="${BASE}/env/platform-agnostic?ref=${KFP_VERSION}"

if [[ "${UNINSTALL}" == true || "${REINSTALL}" == true ]]; then
  log_info "removing Kubeflow Pipelines ${KFP_VERSION}"
  kubectl delete -k "${PLATFORM}" --ignore-not-found --wait
  kubectl delete -k "${CLUSTER_SCOPED}" --ignore-not-found --wait
fi
[[ "${UNINSTALL}" == true ]] && exit 0

log_info "installing Kubeflow Pipelines ${KFP_VERSION} (platform-agnostic)"
kubectl apply -k "${CLUSTER_SCOPED}"
wait_for_crd applications.app.k8s.io
kubectl apply -k "${PLATFORM}"
wait_for_deployments "${KUBEFLOW_NAMESPACE}"
log_success "Kubeflow Pipelines ${KFP_VERSION} is ready in namespace ${KUBEFLOW_NAMESPACE}"
