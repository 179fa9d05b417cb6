#!/usr/bin/env bash
# Creates the kind cluster from hack/kind-config.yaml (control plane, CPU worker, simulated GPU
# worker with label pool=gpu and taint nvidia.com/gpu=present:NoSchedule). Idempotent.
#   bash hack/kind-create.sh [--reinstall|--uninstall]
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
parse_common_args "$@"
check_cli_exist kind kubectl

cluster_exists() {
  kind get clusters 2>/dev/null | grep -qx "${KIND_CLUSTER_NAME}"
}

if [[ "${UNINSTALL}" == true || "${REINSTALL}" == true ]] && cluster_exists; then
  log_info "deleting kind cluster ${KIND_CLUSTER_NAME}"
  kind delete cluster --name "${KIND_CLUSTER_NAME}"
fi
[[ "${UNINSTALL}" == true ]] && exit 0

if cluster_exists; then
  log_info "kind cluster ${KIND_CLUSTER_NAME} already exists"
else
  log_info "creating kind cluster ${KIND_CLUSTER_NAME} (${KIND_NODE_IMAGE})"
  kind create cluster --name "${KIND_CLUSTER_NAME}" --image "${KIND_NODE_IMAGE}" \
    --config "${KIND_CONFIG}" --wait "${WAIT_TIMEOUT}"
fi
kubectl config use-context "kind-${KIND_CLUSTER_NAME}" >/dev/null
kubectl wait node --all --for=condition=Ready --timeout="${WAIT_TIMEOUT}"
kubectl get nodes -L pool
log_success "kind cluster ${KIND_CLUSTER_NAME} is ready"
