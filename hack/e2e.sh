#!/usr/bin/env bash
# End to end on kind: builds the image and loads it into kind, installs cert-manager, KServe,
# KFP, the S3 bucket and kfp-ct (chart), uploads a small training set to S3, runs the
# continuous-training pipeline on the cluster (deploy_target=kserve) and sends a V2 inference
# request to the resulting InferenceService. Not run in this repository's CI (needs Docker, kind
# and network access). Idempotent: re-running reuses the cluster and upgrades what changed.
#   bash hack/e2e.sh [--reinstall]     # --reinstall: reinstall kfp-ct itself first
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
parse_common_args "$@"
[[ "${UNINSTALL}" == true ]] && die "to remove everything: bash hack/kind-create.sh --uninstall"
check_cli_exist docker kind kubectl helm curl make

E2E_MODEL="${E2E_MODEL:-kfp-ct-e2e}"
# The deploy step names the InferenceService after the registered model.
E2E_ISVC="${E2E_ISVC:-${E2E_MODEL}}"
E2E_DATA_URI="${E2E_DATA_URI:-s3://${MLFLOW_BUCKET}/data/e2e.csv}"
E2E_ROWS="${E2E_ROWS:-2000}"
KFP_LOCAL_PORT="${KFP_LOCAL_PORT:-8888}"
PREDICTOR_LOCAL_PORT="${PREDICTOR_LOCAL_PORT:-8081}"
KFP_CT_CLI="${KFP_CT_CLI:-${REPO_ROOT}/.venv/bin/kfp-ct}"
[[ -x "${KFP_CT_CLI}" ]] || die "${KFP_CT_CLI} not found: run make setup"

PORT_FORWARD_PIDS=()
cleanup() {
  local pid
  for pid in "${PORT_FORWARD_PIDS[@]}"; do
    kill "${pid}" 2>/dev/null || true
  done
}
trap cleanup EXIT

# port_forward NAMESPACE TARGET LOCAL:REMOTE URL: background port-forward, wait until URL answers.
port_forward() {
  kubectl -n "$1" port-forward "$2" "$3" >/dev/null 2>&1 &
  PORT_FORWARD_PIDS+=("$!")
  local _
  for _ in $(seq 1 60); do
    if curl -fsS -o /dev/null "$4"; then
      return 0
    fi
    sleep 2
  done
  die "port-forward to $1/$2 did not answer at $4"
}

log_info "1/7 building ${KFP_CT_IMAGE}"
make -C "${REPO_ROOT}" image IMAGE="${KFP_CT_IMAGE}"

log_info "2/7 kind cluster ${KIND_CLUSTER_NAME}"
bash "${HACK_DIR}/kind-create.sh"
kind load docker-image "${KFP_CT_IMAGE}" --name "${KIND_CLUSTER_NAME}"

log_info "3/7 platform: cert-manager, KServe, KFP, S3"
bash "${HACK_DIR}/install-cert-manager.sh"
bash "${HACK_DIR}/install-kserve.sh"
bash "${HACK_DIR}/install-kfp.sh"
bash "${HACK_DIR}/install-s3.sh"

log_info "4/7 kfp-ct (MLflow, ServingRuntime, RBAC, config, setup job, helm test)"
if [[ "${REINSTALL}" == true ]]; then
  bash "${HACK_DIR}/install-kfp-ct.sh" --reinstall
else
  bash "${HACK_DIR}/install-kfp-ct.sh"
fi

log_info "5/7 uploading ${E2E_ROWS} rows to ${E2E_DATA_URI}"
kubectl -n "${KUBEFLOW_NAMESPACE}" delete job kfp-ct-e2e-data --ignore-not-found --wait
kubectl apply -f - <<YAML
apiVersion: batch/v1
kind: Job
metadata:
  name: kfp-ct-e2e-data
  namespace: ${KUBEFLOW_NAMESPACE}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: data
          image: ${KFP_CT_IMAGE}
          imagePullPolicy: IfNotPresent
          envFrom:
            - configMapRef: {name: kfp-ct-config}
            - secretRef: {name: kfp-ct-s3}
          env:
            - {name: DATA_URI, value: "${E2E_DATA_URI}"}
            - {name: ROWS, value: "${E2E_ROWS}"}
          command: ["python", "-c"]
          args:
            - |
              import os, boto3, pandas as pd
              from sklearn.datasets import make_classification
              x, y = make_classification(n_samples=int(os.environ["ROWS"]), n_features=4,
                                         n_informative=3, n_redundant=0, random_state=0)
              df = pd.DataFrame(x, columns=["f0", "f1", "f2", "f3"]).assign(label=y)
              bucket, key = os.environ["DATA_URI"].removeprefix("s3://").split("/", 1)
              s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
              s3.put_object(Bucket=bucket, Key=key, Body=df.to_csv(index=False).encode())
              print("wrote", len(df), "rows to", os.environ["DATA_URI"])
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: ["ALL"]}}
          resources:
            requests: {cpu: 100m, memory: 256Mi}
            limits: {cpu: "1", memory: 1Gi}
YAML
kubectl -n "${KUBEFLOW_NAMESPACE}" wait job/kfp-ct-e2e-data --for=condition=Complete \
  --timeout="${WAIT_TIMEOUT}"

log_info "6/7 continuous training on the cluster (KFP run, deploy_target=kserve)"
port_forward "${KUBEFLOW_NAMESPACE}" svc/ml-pipeline "${KFP_LOCAL_PORT}:8888" \
  "http://localhost:${KFP_LOCAL_PORT}/apis/v2beta1/healthz"
"${KFP_CT_CLI}" submit --host "http://localhost:${KFP_LOCAL_PORT}" \
  --pipeline continuous-training \
  --param "data_uri=${E2E_DATA_URI}" \
  --param label=label \
  --param "model_name=${E2E_MODEL}" \
  --param deploy_target=kserve \
  --wait
kubectl -n "${KFP_CT_NAMESPACE}" wait "inferenceservice/${E2E_ISVC}" --for=condition=Ready \
  --timeout="${WAIT_TIMEOUT}"

log_info "7/7 V2 inference request to ${E2E_ISVC}"
port_forward "${KFP_CT_NAMESPACE}" "svc/${E2E_ISVC}-predictor" "${PREDICTOR_LOCAL_PORT}:80" \
  "http://localhost:${PREDICTOR_LOCAL_PORT}/v2/health/ready"
response="$(curl -fsS -H 'Content-Type: application/json' \
  "http://localhost:${PREDICTOR_LOCAL_PORT}/v2/models/${E2E_ISVC}/infer" \
  -d '{"id": "e2e-1", "inputs": [
        {"name": "f0", "shape": [2], "datatype": "FP64", "data": [0.1, -1.2]},
        {"name": "f1", "shape": [2], "datatype": "FP64", "data": [1.5, 0.3]},
        {"name": "f2", "shape": [2], "datatype": "FP64", "data": [-0.7, 2.2]},
        {"name": "f3", "shape": [2], "datatype": "FP64", "data": [0.0, -0.4]}]}')"
printf '%s\n' "${response}"
grep -q '"outputs"' <<<"${response}" || die "the V2 response has no outputs"
log_success "e2e passed: trained on the cluster, served by KServe, answered a V2 request"
