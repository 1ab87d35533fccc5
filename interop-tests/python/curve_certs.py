#!/usr/bin/env python3
"""CURVE key files with pyzmq's zmq.auth, for courier's interop tests (interop-tests/tests/curve.rs).

    curve_certs.py create DIR NAME...
        zmq.auth.create_certificates(DIR, NAME) for each NAME (DIR is created if missing):
        writes DIR/NAME.key and DIR/NAME.key_secret.
    curve_certs.py load FILE...
        zmq.auth.load_certificate(FILE) for each FILE.

Prints one JSON object per line, keys in Z85:
    {"event":"created","name":...,"public":Z85,"secret":Z85,"public_file":...,"secret_file":...}
    {"event":"loaded","file":...,"public":Z85,"secret":Z85|null,"derived_public":Z85|null}
        (derived_public: zmq.curve_public(secret), the public key the secret key really has)
    {"event":"error","file":...,"error":...}          (load only; exit status 1)
"""

import json
import os
import sys

import zmq
import zmq.auth


def emit(event, **fields):
    obj = {"event": event}
    obj.update(fields)
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def text(b):
    return None if b is None else b.decode("ascii")


def main(argv):
    if len(argv) < 3 or argv[1] not in ("create", "load"):
        sys.stderr.write(__doc__)
        return 2
    status = 0
    if argv[1] == "create":
        directory = argv[2]
        os.makedirs(directory, exist_ok=True)
        for name in argv[3:]:
            public_file, secret_file = zmq.auth.create_certificates(directory, name)
            public, secret = zmq.auth.load_certificate(secret_file)
            emit("created", name=name, public=text(public), secret=text(secret),
                 public_file=public_file, secret_file=secret_file)
    else:
        for path in argv[2:]:
            try:
                public, secret = zmq.auth.load_certificate(path)
            except Exception as e:  # noqa: BLE001 - reported to the test
                emit("error", file=path, error=f"{type(e).__name__}: {e}")
                status = 1
                continue
            derived = None if secret is None else zmq.curve_public(secret)
            emit("loaded", file=path, public=text(public), secret=text(secret),
                 derived_public=text(derived))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
