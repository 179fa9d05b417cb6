#!/usr/bin/env bash
# Prepares the S3 store: KFP's own SeaweedFS (service minio-service, installed by
# hack/install-kfp.sh). Creates the MLflow bucket. Idempotent.
#   bash hack/install-s3.sh [--uninstall]
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
parse_common_args "$@"
check_cli_exist kubectl

weed_shell() {
  kubectl -n "${KUBEFLOW_NAMESPACE}" exec deploy/seaweedfs -c seaweedfs -- \
    sh -c "echo '$1' | weed shell"
}

kubectl -n "${KUBEFLOW_NAMESPACE}" wait deploy/seaweedfs --for=condition=Available \
  --timeout="${WAIT_TIMEOUT}"

if [[ "${UNINSTALL}" == true || "${REINSTALL}" == true ]]; then
  log_info "deleting bucket ${MLFLOW_BUCKET}"
  weed_shell "s3.bucket.delete -name ${MLFLOW_BUCKET}" || true
fi
[[ "${UNINSTALL}" == true ]] && exit 0

buckets="$(weed_shell "s3.bucket.list")"
if grep -qw "${MLFLOW_BUCKET}" <<<"${buckets}"; then
  log_info "bucket ${MLFLOW_BUCKET} already exists"
else
  log_info "creating bucket ${MLFLOW_BUCKET}"
  weed_shell "s3.bucket.create -name ${MLFLOW_BUCKET}"
fi
log_success "S3 store ready: http://${S3_ENDPOINT_HOST}, bucket ${MLFLOW_BUCKET}"
