#!/usr/bin/env bash
# Creates (or refreshes) the Python virtualenv at <repo>/.venv used by the SDK conformance tests.
#
# Idempotent: the venv is created with `python3 -m venv` only when missing, and pip runs only when
# tests/sdk/requirements.txt changed since the last successful install (a stamp file inside the venv
# holds the requirements' SHA-256). Prints the venv's python path on the last line.
#
# Environment: PYTHON (default python3) picks the interpreter that creates the venv;
#              VENV_DIR (default <repo>/.venv) picks where it lives.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="${repo_root}/tests/sdk/requirements.txt"
venv_dir="${VENV_DIR:-${repo_root}/.venv}"
python="${PYTHON:-python3}"
stamp="${venv_dir}/.requirements.sha256"

if [[ ! -f "${requirements}" ]]; then
    echo "python-venv: missing ${requirements}" >&2
    exit 1
fi

if [[ ! -x "${venv_dir}/bin/python" ]]; then
    echo "python-venv: creating ${venv_dir}" >&2
    "${python}" -m venv "${venv_dir}"
fi

wanted="$(sha256sum "${requirements}" | cut -d' ' -f1)"
have="$(cat "${stamp}" 2>/dev/null || true)"

if [[ "${wanted}" != "${have}" ]]; then
    echo "python-venv: installing ${requirements}" >&2
    "${venv_dir}/bin/python" -m pip install --disable-pip-version-check --quiet --upgrade pip >&2
    "${venv_dir}/bin/python" -m pip install --disable-pip-version-check --quiet -r "${requirements}" >&2
    printf '%s\n' "${wanted}" > "${stamp}.tmp"
    mv "${stamp}.tmp" "${stamp}"
else
    echo "python-venv: ${venv_dir} is up to date" >&2
fi

echo "${venv_dir}/bin/python"
