"""The peer the operator is measured against: the seed documentation's script, as a user would write it.

For each of N credentials: `sch.get_api_credential_builder().build(name=..., user_id=...)`,
`sch.add_api_credential(credential)` (the official StreamSets SDK, one Control Hub call), then
`kubectl create secret generic NAME` with the credential ID and token. Sequentially (`--threads 1`,
the documented loop) or with a thread pool (`--threads 32`) sharing one ControlHub session.

Connects like tests/sdk/: `ControlHub(credential_id=..., token=..., aster_url=<emulator URL>)`, the
admin credential from $PEER_CREDENTIAL_ID / $PEER_AUTH_TOKEN (never printed). The token reaches
kubectl on its standard input (`--from-env-file=/dev/stdin`), not on its command line. Owners are
read from --users (one user ID a line); credential n belongs to owner n mod len(users).

Prints one JSON line: {"count", "threads", "failed", "elapsed_s", "session_s"}; the clock runs
from the first builder call to the last Secret (the ControlHub session is built before it,
`session_s`).

Usage: python benches/peer/sdk_peer.py --url URL --users FILE --count N [--threads T]
       --namespace NS --prefix NAME [--kubectl PATH] (KUBECONFIG from the environment)
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from streamsets.sdk import ControlHub


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--url', required=True, help='aster URL (the emulator)')
    parser.add_argument('--users', required=True, help='file with one owner user ID a line')
    parser.add_argument('--count', type=int, required=True)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--namespace', required=True)
    parser.add_argument('--prefix', default='sdk')
    parser.add_argument('--kubectl', default='kubectl')
    args = parser.parse_args()
    with open(args.users) as f:
        users = [line.strip() for line in f if line.strip()]
    if not users:
        sys.exit('no users')

    started = time.monotonic()
    sch = ControlHub(credential_id=os.environ['PEER_CREDENTIAL_ID'], token=os.environ['PEER_AUTH_TOKEN'],
                     aster_url=args.url)
    # The session starts background listings; let them finish so they do not overlap the clock.
    for thread in threading.enumerate():
        if '_call_data_collectors' in thread.name:
            thread.join(timeout=30)
    session_s = time.monotonic() - started

    def provision(n):
        name = f'{args.prefix}-{n}'
        credential = sch.get_api_credential_builder().build(name=name, user_id=users[n % len(users)])
        sch.add_api_credential(credential)
        env_file = f'credentialId={credential.credential_id}\nauthToken={credential.auth_token}\n'
        result = subprocess.run(
            [args.kubectl, 'create', 'secret', 'generic', name, '-n', args.namespace,
             '--from-env-file=/dev/stdin'],
            input=env_file.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if result.returncode != 0:
            print(f'{name}: kubectl: {result.stderr.decode(errors="replace").strip()}', file=sys.stderr)
            return False
        return True

    def safe(n):
        try:
            return provision(n)
        except Exception as error:  # a failure is counted, never fatal; no token in the message
            print(f'{args.prefix}-{n}: {type(error).__name__}', file=sys.stderr)
            return False

    clock = time.monotonic()
    if args.threads <= 1:
        results = [safe(n) for n in range(args.count)]
    else:
        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            results = list(pool.map(safe, range(args.count)))
    elapsed = time.monotonic() - clock
    print(json.dumps({'count': args.count, 'threads': args.threads, 'failed': results.count(False),
                      'elapsed_s': round(elapsed, 3), 'session_s': round(session_s, 3)}))


if __name__ == '__main__':
    main()
