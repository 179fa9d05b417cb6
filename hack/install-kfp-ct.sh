#!/usr/bin/env bash
# Installs kfp-ct itself: the MLflow server, the ServingRuntime, RBAC, configuration and S3
# credentials (copied from KFP's mlpipeline-minio-artifact Secret), with the Helm chart (default)
# or the kustomize kind overlay (KFP_CT_INSTALL_METHOD=kustomize). Needs KServe, KFP and the S3
# bucket (hack/install-*.sh). Idempotent.
#   bash hack/install-kfp-ct.sh [--reinstall|--uninstall]
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
parse_common_args "$@"
check_cli_exist kubectl helm

CHART="${REPO_ROOT}/charts/kfp-ct"
OVERLAY="${KFP_CT_OVERLAY:-${REPO_ROOT}/manifests/overlays/kind}"
VALUES="${KFP_CT_VALUES:-${CHART}/ci/kind-values.yaml}"

uninstall() {
  if [[ "${KFP_CT_INSTALL_METHOD}" == kustomize ]]; then
    kubectl delete -k "${OVERLAY}" --ignore-not-found --wait
  elif helm_release_exists "${KFP_CT_NAMESPACE}" "${KFP_CT_RELEASE}"; then
    helm uninstall "${KFP_CT_RELEASE}" --namespace "${KFP_CT_NAMESPACE}" --wait
  fi
}

# secret_value KEY: one key of KFP's S3 Secret, decoded.
secret_value() {
  kubectl -n "${KUBEFLOW_NAMESPACE}" get secret "${S3_CREDENTIALS_SECRET}" \
    -o "jsonpath={.data.$1}" | base64 -d
}

if [[ "${UNINSTALL}" == true || "${REINSTALL}" == true ]]; then
  log_info "uninstalling kfp-ct (${KFP_CT_INSTALL_METHOD})"
  uninstall
fi
[[ "${UNINSTALL}" == true ]] && exit 0

ACCESS_KEY="$(secret_value accesskey)"
SECRET_KEY="$(secret_value secretkey)"
[[ -n "${ACCESS_KEY}" && -n "${SECRET_KEY}" ]] \
  || die "no S3 credentials in ${KUBEFLOW_NAMESPACE}/${S3_CREDENTIALS_SECRET}"

case "${KFP_CT_INSTALL_METHOD}" in
  helm)
    log_info "installing chart ${CHART} as ${KFP_CT_RELEASE} (values ${VALUES})"
    helm upgrade --install "${KFP_CT_RELEASE}" "${CHART}" \
      --namespace "${KFP_CT_NAMESPACE}" --create-namespace \
      --values "${VALUES}" \
      --set image.tag="${KFP_CT_IMAGE##*:}" \
      --set image.repository="${KFP_CT_IMAGE%:*}" \
      --set-string s3.accessKeyId="${ACCESS_KEY}" \
      --set-string s3.secretAccessKey="${SECRET_KEY}" \
      --set mlflow.artifactsDestination="s3://${MLFLOW_BUCKET}/artifacts" \
      --wait --wait-for-jobs --timeout "${WAIT_TIMEOUT}"
    helm test "${KFP_CT_RELEASE}" --namespace "${KFP_CT_NAMESPACE}" --logs
    ;;
  kustomize)
    log_info "applying ${OVERLAY}"
    kubectl apply -k "${OVERLAY}"
    # Real credentials over the placeholder templates. A merge patch of .data keeps the KServe
    # annotations (a second `kubectl apply` of a bare Secret would drop them).
    data="$(kubectl create secret generic credentials --dry-run=client -o 'jsonpath={.data}' \
      --from-literal=AWS_ACCESS_KEY_ID="${ACCESS_KEY}" \
      --from-literal=AWS_SECRET_ACCESS_KEY="${SECRET_KEY}")"
    kubectl -n "${KUBEFLOW_NAMESPACE}" patch secret kfp-ct-s3 --type merge \
      -p "{\"data\": ${data}}"
    kubectl -n "${KFP_CT_NAMESPACE}" patch secret kfp-ct-s3-storage --type merge \
      -p "{\"data\": ${data}}"
    kubectl -n "${KFP_CT_NAMESPACE}" rollout restart deployment/mlflow
    kubectl -n "${KFP_CT_NAMESPACE}" rollout status deployment/mlflow --timeout="${WAIT_TIMEOUT}"
    ;;
  *) die "KFP_CT_INSTALL_METHOD must be helm or kustomize, not ${KFP_CT_INSTALL_METHOD}" ;;
esac
log_success "kfp-ct is installed in namespace ${KFP_CT_NAMESPACE}"
