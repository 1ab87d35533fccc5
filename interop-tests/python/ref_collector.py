#!/usr/bin/env python3
"""Reference metrics collector, in pyzmq, for courier's interop tests.

    ref_collector.py LISTEN_IP [--port 5556] [--curve-dir ~/.curve] ...

Two CURVE-server ROUTERs, both with the key pair `collector` (--key-name) from
--curve-dir (zmq.auth.load_certificate of collector.key_secret):
  * agents on tcp://LISTEN_IP:PORT. Any agent key is accepted (no ZAP handler)
    unless --agents-allowlist DIR is given: then only the public keys of
    DIR/*.key (zmq.auth.thread.ThreadAuthenticator + configure_curve);
  * viewers on --viewer-bind (tcp://127.0.0.1:5557). Only the public keys of
    CURVE_DIR/authorized_clients/*.key are accepted (ThreadAuthenticator +
    configure_curve(location=...)) unless --viewer-allow-any.
Each ROUTER lives in its own zmq.Context, so each has its own ZAP handler.

Messages (frame 0 is an ASCII header; on a ROUTER the routing id comes first):
  CTRL = [b"CTRL", utf-8 text]                 text: hello | model | ping
  METR = [b"METR", utf-8 hostname, JSON object, b"metrics"|b"model"]

Behaviour:
  * answers an agent's CTRL hello with CTRL model;
  * caches the latest METR model data (the JSON frame, verbatim) per hostname;
    on METR metrics from a hostname without cached model data it sends that
    agent CTRL model (every time, until the model arrives);
  * forwards every METR from an agent to every known viewer, frames unchanged
    after the routing id;
  * on a viewer's first CTRL hello, sends it the cached METR model of every
    hostname (the original app forgot this; we do it);
  * sends CTRL ping to every known agent and viewer every --ping-interval (5 s);
  * drops agents and viewers silent for more than --stale-after (30 s);
  * a new connection (routing id) sending METR for a known hostname replaces
    the old one (the old routing id is forgotten).
Both ROUTERs set ROUTER_MANDATORY (unroutable sends are reported as
send_error) and ROUTER_HANDOVER.

Every event is printed to stdout as ONE JSON object per line, flushed. `side`
is "agent" or "viewer"; `peer` is the routing id in hex, `routing_id` the
same as text when it is printable ASCII (else null):
  {"event":"listening","side":...,"endpoint":...,"public_key":...,"auth":...}
  {"event":"accepted"|"handshake"|"disconnected"|"handshake_failed"|
           "handshake_failed_protocol"|"handshake_failed_auth","side":...,...} (monitor)
  {"event":"auth","side":...,"allowed":bool,"client_key":...,"detail":...}   (ZAP)
  {"event":"learned","side":...,"peer":...,"routing_id":...}
  {"event":"recv","side":...,"peer":...,"routing_id":...,"header":"CTRL","text":...}
  {"event":"recv","side":"agent",...,"header":"METR","hostname":...,"kind":...}
  {"event":"recv","side":...,...,"header":...,"frames":N,"sizes":[...]}   (anything else)
  {"event":"sent","side":...,"peer":...,"routing_id":...,"header":"CTRL","text":"model"|"ping"}
  {"event":"model_cached","hostname":...,"peer":...,"values":{...}|null}
  {"event":"model_requested","hostname":...,"peer":...,"routing_id":...}
  {"event":"forwarded","hostname":...,"kind":...,"viewers":N}
  {"event":"model_sent","peer":...,"hostname":...}       (cached model to a viewer)
  {"event":"greeted","peer":...,"models":N}              (a viewer's first hello)
  {"event":"replaced","hostname":...,"old":...,"new":...,"old_routing_id":...,"new_routing_id":...}
  {"event":"dropped","side":...,"peer":...,"routing_id":...,"hostname":...,"silent_for":s}
  {"event":"send_error","side":...,"peer":...,"header":...,"error":...}
  {"event":"error","error":...}                         (then exit status 2)
  {"event":"exit","reason":"SIGTERM"|"SIGINT"|"duration","agents":N,"viewers":N,"models":N}
It exits cleanly (status 0) on SIGTERM/SIGINT, or after --duration seconds.
"""

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
import time

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

STOP = {"reason": None}
EMIT_LOCK = threading.Lock()

MONITOR_NAMES = {
    zmq.EVENT_ACCEPTED: "accepted",
    zmq.EVENT_DISCONNECTED: "disconnected",
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "handshake",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "handshake_failed",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "handshake_failed_protocol",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "handshake_failed_auth",
}


def emit(event, **fields):
    obj = {"event": event}
    obj.update(fields)
    obj["t"] = round(time.monotonic(), 6)
    with EMIT_LOCK:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def on_signal(signum, _frame):
    STOP["reason"] = signal.Signals(signum).name


def text(b):
    return b.decode("utf-8", errors="replace")


def printable(ident):
    if ident and all(0x20 < c < 0x7F for c in ident):
        return ident.decode("ascii")
    return None


def tcp_endpoint(host, port):
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"tcp://{host}:{port}"


class AuthEvents(logging.Handler):
    """Turns the authenticator's ALLOWED/DENIED log records into auth events."""

    KEY = re.compile(r"client_key=b?'?([^' ]+)'?")

    def __init__(self, side):
        super().__init__(level=logging.DEBUG)
        self.side = side

    def emit(self, record):
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - never let logging break the collector
            return
        if not (msg.startswith("ALLOWED") or msg.startswith("DENIED")):
            return
        m = self.KEY.search(msg)
        emit("auth", side=self.side, allowed=msg.startswith("ALLOWED"),
             client_key=m.group(1) if m else None, detail=msg)


def start_authenticator(ctx, side, location):
    log = logging.getLogger(f"ref_collector.auth.{side}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(AuthEvents(side))
    auth = ThreadAuthenticator(ctx, log=log)
    auth.start()
    auth.configure_curve(domain="*", location=location)
    return auth


class Side:
    """One ROUTER (agents or viewers) and the peers known on it."""

    def __init__(self, name, ctx, sock, monitor, auth):
        self.name = name
        self.ctx = ctx
        self.sock = sock
        self.monitor = monitor
        self.auth = auth
        # routing id -> {"last_seen": t, "greeted": bool, "hostname": str|None}
        self.peers = {}

    def ids(self, ident):
        return {"peer": ident.hex(), "routing_id": printable(ident)}

    def send(self, ident, frames, header, **fields):
        try:
            self.sock.send_multipart([ident] + frames, zmq.NOBLOCK)
            return True
        except zmq.ZMQError as e:
            emit("send_error", side=self.name, header=header, error=str(e),
                 **self.ids(ident), **fields)
            return False

    def send_ctrl(self, ident, word):
        if self.send(ident, [b"CTRL", word.encode()], "CTRL", text=word):
            emit("sent", side=self.name, header="CTRL", text=word, **self.ids(ident))

    def touch(self, ident, now):
        peer = self.peers.get(ident)
        if peer is None:
            peer = {"last_seen": now, "greeted": False, "hostname": None}
            self.peers[ident] = peer
            emit("learned", side=self.name, **self.ids(ident))
        peer["last_seen"] = now
        return peer

    def close(self):
        self.sock.disable_monitor()
        self.monitor.close(0)
        self.sock.close(0)
        if self.auth is not None:
            self.auth.stop()
        self.ctx.term()


def make_side(name, endpoint, public, secret, allow_location):
    ctx = zmq.Context()
    auth = None
    try:
        if allow_location is not None:
            # Before bind: a handshake without a ZAP handler would pass unchecked.
            auth = start_authenticator(ctx, name, allow_location)
        sock = ctx.socket(zmq.ROUTER)
        sock.linger = 0
        sock.router_mandatory = 1
        sock.router_handover = 1
        sock.curve_server = True
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        if endpoint.startswith("tcp://["):
            sock.ipv6 = True
        monitor = sock.get_monitor_socket()
        try:
            sock.bind(endpoint)
        except zmq.ZMQError:
            sock.disable_monitor()
            monitor.close(0)
            sock.close(0)
            raise
    except Exception:
        if auth is not None:
            auth.stop()
        ctx.term()
        raise
    side = Side(name, ctx, sock, monitor, auth)
    emit("listening", side=name, endpoint=text(sock.getsockopt(zmq.LAST_ENDPOINT)),
         public_key=public.decode("ascii"),
         auth="any" if allow_location is None else os.path.abspath(allow_location),
         pid=os.getpid(), zmq=zmq.zmq_version(), pyzmq=zmq.pyzmq_version())
    return side


class Collector:
    def __init__(self, agents, viewers):
        self.agents = agents
        self.viewers = viewers
        self.models = {}      # hostname -> model JSON frame (bytes, verbatim)
        self.owner = {}       # hostname -> agent routing id

    # --- agents ---------------------------------------------------------

    def on_agent(self, frames, now):
        ident, body = frames[0], frames[1:]
        ids = self.agents.ids(ident)
        peer = self.agents.touch(ident, now)
        header = body[0] if body else b""
        if header == b"CTRL" and len(body) >= 2:
            word = text(body[1])
            emit("recv", side="agent", header="CTRL", text=word, **ids)
            if word == "hello":
                self.agents.send_ctrl(ident, "model")
            return
        if header == b"METR" and len(body) >= 4:
            hostname, data, kind = text(body[1]), body[2], text(body[3])
            emit("recv", side="agent", header="METR", hostname=hostname, kind=kind,
                 frames=len(body), **ids)
            old = self.owner.get(hostname)
            if old is not None and old != ident:
                emit("replaced", hostname=hostname, old=old.hex(), new=ident.hex(),
                     old_routing_id=printable(old), new_routing_id=printable(ident))
                stale = self.agents.peers.get(old)
                if stale is not None and stale["hostname"] == hostname:
                    del self.agents.peers[old]
            self.owner[hostname] = ident
            peer["hostname"] = hostname
            if kind == "model":
                self.models[hostname] = data
                try:
                    values = json.loads(data)
                except ValueError:
                    values = None
                emit("model_cached", hostname=hostname, values=values, **ids)
            elif kind == "metrics" and hostname not in self.models:
                emit("model_requested", hostname=hostname, **ids)
                self.agents.send_ctrl(ident, "model")
            count = 0
            for vid in list(self.viewers.peers):
                if self.viewers.send(vid, list(body), "METR", hostname=hostname, kind=kind):
                    count += 1
            emit("forwarded", hostname=hostname, kind=kind, viewers=count)
            return
        emit("recv", side="agent", header=text(header), frames=len(body),
             sizes=[len(f) for f in body], **ids)

    # --- viewers --------------------------------------------------------

    def on_viewer(self, frames, now):
        ident, body = frames[0], frames[1:]
        ids = self.viewers.ids(ident)
        peer = self.viewers.touch(ident, now)
        header = body[0] if body else b""
        if header == b"CTRL" and len(body) >= 2:
            word = text(body[1])
            emit("recv", side="viewer", header="CTRL", text=word, **ids)
            if word == "hello" and not peer["greeted"]:
                peer["greeted"] = True
                sent = 0
                for hostname, data in list(self.models.items()):
                    if self.viewers.send(ident, [b"METR", hostname.encode(), data, b"model"],
                                         "METR", hostname=hostname, kind="model"):
                        sent += 1
                        emit("model_sent", hostname=hostname, **ids)
                emit("greeted", models=sent, **ids)
            return
        emit("recv", side="viewer", header=text(header), frames=len(body),
             sizes=[len(f) for f in body], **ids)

    # --- timers ---------------------------------------------------------

    def ping_all(self):
        for side in (self.agents, self.viewers):
            for ident in list(side.peers):
                side.send_ctrl(ident, "ping")

    def drop_stale(self, now, stale_after):
        for side in (self.agents, self.viewers):
            for ident, peer in list(side.peers.items()):
                silent = now - peer["last_seen"]
                if silent > stale_after:
                    del side.peers[ident]
                    hostname = peer["hostname"]
                    if hostname is not None and self.owner.get(hostname) == ident:
                        del self.owner[hostname]
                    emit("dropped", side=side.name, hostname=hostname,
                         silent_for=round(silent, 3), **side.ids(ident))


def drain_monitor(side):
    while True:
        try:
            ev = recv_monitor_message(side.monitor, zmq.NOBLOCK)
        except zmq.Again:
            return
        name = MONITOR_NAMES.get(ev["event"])
        if name is not None:
            emit(name, side=side.name, endpoint=text(ev["endpoint"]), value=ev["value"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("listen_ip", help="IP address to bind the agents' ROUTER on")
    ap.add_argument("--port", type=int, default=5556, help="agents' port")
    ap.add_argument("--curve-dir", default="~/.curve",
                    help="directory with NAME.key_secret and authorized_clients/")
    ap.add_argument("--key-name", default="collector", help="our key pair name in --curve-dir")
    ap.add_argument("--agents-allowlist", default=None, metavar="DIR",
                    help="accept only agents whose public key is in DIR/*.key (default: any)")
    ap.add_argument("--viewer-bind", default="tcp://127.0.0.1:5557",
                    help="endpoint of the viewers' ROUTER")
    ap.add_argument("--viewer-allow-any", action="store_true",
                    help="accept any viewer key (skip CURVE_DIR/authorized_clients)")
    ap.add_argument("--ping-interval", type=float, default=5.0,
                    help="seconds between CTRL ping rounds to agents and viewers")
    ap.add_argument("--stale-after", type=float, default=30.0,
                    help="drop an agent or viewer silent for this many seconds")
    ap.add_argument("--duration", type=float, default=None, help="exit after this many seconds")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    curve_dir = os.path.expanduser(args.curve_dir)
    try:
        public, secret = zmq.auth.load_certificate(
            os.path.join(curve_dir, f"{args.key_name}.key_secret"))
        if secret is None:
            raise ValueError(f"no secret key in {args.key_name}.key_secret")
    except (OSError, ValueError) as e:
        emit("error", error=f"cannot load CURVE keys from {curve_dir}: {e}")
        return 2

    viewer_allow = None
    if not args.viewer_allow_any:
        viewer_allow = os.path.join(curve_dir, "authorized_clients")
        if not os.path.isdir(viewer_allow):
            emit("error", error=f"no viewer allowlist directory {viewer_allow} "
                                "(create it, or pass --viewer-allow-any)")
            return 2
    agent_allow = None
    if args.agents_allowlist is not None:
        agent_allow = os.path.expanduser(args.agents_allowlist)
        if not os.path.isdir(agent_allow):
            emit("error", error=f"no agents allowlist directory {agent_allow}")
            return 2

    try:
        agents = make_side("agent", tcp_endpoint(args.listen_ip, args.port), public, secret,
                           agent_allow)
    except (zmq.ZMQError, OSError) as e:
        emit("error", error=f"cannot listen for agents on {args.listen_ip}:{args.port}: {e}")
        return 2
    try:
        viewers = make_side("viewer", args.viewer_bind, public, secret, viewer_allow)
    except (zmq.ZMQError, OSError) as e:
        emit("error", error=f"cannot listen for viewers on {args.viewer_bind}: {e}")
        agents.close()
        return 2

    collector = Collector(agents, viewers)
    poller = zmq.Poller()
    for side in (agents, viewers):
        poller.register(side.sock, zmq.POLLIN)
        poller.register(side.monitor, zmq.POLLIN)
    handlers = ((agents, collector.on_agent), (viewers, collector.on_viewer))

    start = time.monotonic()
    next_ping = start + args.ping_interval
    while STOP["reason"] is None:
        now = time.monotonic()
        if args.duration is not None and now - start >= args.duration:
            STOP["reason"] = "duration"
            break
        timeout_ms = max(0, min(100, int((next_ping - now) * 1000)))
        events = dict(poller.poll(timeout_ms))
        for side, handler in handlers:
            if side.monitor in events:
                drain_monitor(side)
            if side.sock in events:
                while True:
                    try:
                        frames = side.sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    handler(frames, time.monotonic())

        now = time.monotonic()
        collector.drop_stale(now, args.stale_after)
        if now >= next_ping:
            collector.ping_all()
            next_ping += args.ping_interval
            if next_ping < now:
                next_ping = now + args.ping_interval

    emit("exit", reason=STOP["reason"], agents=len(agents.peers), viewers=len(viewers.peers),
         models=len(collector.models))
    agents.close()
    viewers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
