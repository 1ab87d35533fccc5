#!/usr/bin/env python3
"""Make CURVE key pairs for courier's metrics interop tests, with pyzmq.

    make_keys.py DIR NAME... [--authorize NAME]...

For each NAME, writes DIR/NAME.key (public) and DIR/NAME.key_secret (secret,
mode 0600) with zmq.auth.create_certificates, exactly the files the reference
metrics apps (ref_agent.py, ref_collector.py, ref_viewer.py) load with
zmq.auth.load_certificate. DIR is created if missing (mode 0700). Each
--authorize NAME (one of the NAMEs, or an existing DIR/NAME.key) copies the
public key into DIR/authorized_clients/, the viewer allowlist of
ref_collector.py.

Meant for temporary directories only: never point it at a real ~/.curve.

Prints one JSON object per line:
  {"event":"key","name":...,"public":"<z85>","public_file":...,"secret_file":...}
  {"event":"authorized","name":...,"path":...}
  {"event":"exit","reason":"done"}
Exits with status 2 (and an {"event":"error",...} line) on a bad argument.
"""

import argparse
import json
import os
import shutil
import sys

import zmq
import zmq.auth


def emit(event, **fields):
    obj = {"event": event}
    obj.update(fields)
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="directory for the key files (created if missing)")
    ap.add_argument("names", nargs="*", help="key pair names, e.g. agent collector client")
    ap.add_argument("--authorize", action="append", default=[], metavar="NAME",
                    help="copy NAME.key into DIR/authorized_clients/ (repeatable)")
    args = ap.parse_args()

    os.makedirs(args.dir, mode=0o700, exist_ok=True)
    for name in args.names:
        if not name or os.sep in name or name.startswith("."):
            emit("error", error=f"bad key name {name!r}")
            return 2
        public_file, secret_file = zmq.auth.create_certificates(args.dir, name)
        os.chmod(secret_file, 0o600)
        public, _ = zmq.auth.load_certificate(public_file)
        emit("key", name=name, public=public.decode("ascii"),
             public_file=os.path.abspath(public_file), secret_file=os.path.abspath(secret_file))

    if args.authorize:
        allow_dir = os.path.join(args.dir, "authorized_clients")
        os.makedirs(allow_dir, mode=0o700, exist_ok=True)
        for name in args.authorize:
            src = os.path.join(args.dir, f"{name}.key")
            if not os.path.isfile(src):
                emit("error", error=f"no public key file {src}")
                return 2
            dst = os.path.join(allow_dir, f"{name}.key")
            shutil.copyfile(src, dst)
            emit("authorized", name=name, path=os.path.abspath(dst))

    emit("exit", reason="done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
