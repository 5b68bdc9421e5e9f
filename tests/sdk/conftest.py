"""Fixtures for the SDK conformance suite: the Control Hub emulator as a child process, and
ControlHub sessions of the official StreamSets SDK connected to it.

The emulator binary comes from $CONTROLHUB_EMULATOR_BIN, else <repo>/target/debug/controlhub-emulator
(build it with `cargo build -p controlhub-emulator`). It is started once per session with
`--listen 127.0.0.1:0`; its single JSON start-up line gives the URL, org ID and admin credential.
The process gets SIGKILL if pytest dies (PR_SET_PDEATHSIG) and is terminated at session end.
Tokens are never printed: helpers and assertion messages show credential IDs only.
"""

import ctypes
import json
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 20
PR_SET_PDEATHSIG = 1


def emulator_binary():
    configured = os.environ.get('CONTROLHUB_EMULATOR_BIN')
    path = Path(configured) if configured else REPO_ROOT / 'target' / 'debug' / 'controlhub-emulator'
    if not path.is_file():
        pytest.fail(f'{path} not found: build it with `cargo build -p controlhub-emulator`', pytrace=False)
    return path


def _die_with_parent():
    """Runs in the child before exec: ask the kernel to SIGKILL it when pytest goes away."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _read_startup_line(process):
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if selector.select(timeout=0.2):
            line = process.stdout.readline()
            if line:
                return json.loads(line)
        if process.poll() is not None:
            break
    raise RuntimeError(f'the emulator printed no start-up line (exit status {process.poll()})')


class Emulator:
    """A running emulator and its admin API (`/emulator/v1`), used with the bootstrap admin credential."""

    def __init__(self, process, line, log_path):
        self.process = process
        self.url = line['url']
        self.org_id = line['orgId']
        self.admin_user_id = line['admin']['userId']
        self.admin_credential_id = line['admin']['credentialId']
        self.admin_token = line['admin']['authToken']
        self.log_path = log_path

    def _headers(self):
        return {
            'Content-Type': 'application/json',
            'X-Requested-By': 'sdk-conformance',
            'X-SS-REST-CALL': 'true',
            'X-SS-App-Component-Id': self.admin_credential_id,
            'X-SS-App-Auth-Token': self.admin_token,
        }

    def admin(self, method, path, body=None):
        response = requests.request(method, f'{self.url}/emulator/v1{path}', headers=self._headers(), json=body,
                                    timeout=30)
        assert response.ok, f'admin API {method} {path} answered {response.status_code}'
        return response.json()

    def create_user(self, email, name, roles=(), service_account=False):
        body = {'email': email, 'name': name, 'roles': list(roles), 'serviceAccount': service_account}
        return self.admin('POST', '/users', body)['userId']

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope='session')
def emulator(tmp_path_factory):
    log_path = tmp_path_factory.mktemp('emulator') / 'stderr.log'
    with open(log_path, 'wb') as log:
        process = subprocess.Popen([str(emulator_binary()), '--listen', '127.0.0.1:0'], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=log, preexec_fn=_die_with_parent)
    try:
        running = Emulator(process, _read_startup_line(process), log_path)
    except Exception:
        process.kill()
        process.wait()
        raise
    yield running
    running.stop()


@pytest.fixture(scope='session')
def sch(emulator):
    """The org admin's ControlHub session, built exactly as a user would (aster_url = the emulator)."""
    from streamsets.sdk import ControlHub

    return ControlHub(credential_id=emulator.admin_credential_id, token=emulator.admin_token,
                      aster_url=emulator.url)


@pytest.fixture
def cleanup(sch):
    """Collects credentials a test creates and deletes those still present afterwards."""
    created = []
    yield created
    present = {credential.credential_id for credential in sch.api_credentials}
    leftovers = [credential for credential in created if credential.credential_id in present]
    if leftovers:
        sch.delete_api_credentials(*leftovers)
