#!/usr/bin/env python3
"""Reference metrics agent, in pyzmq, for courier's interop tests.

    ref_agent.py COLLECTOR_HOST [--port 5556] [--curve-dir ~/.curve] ...

A DEALER with a random 16-character [A-Z0-9] routing id (--routing-id to
choose it), CURVE client with the key pair `agent` (--key-name) and the
collector's public key `collector.key` (--server-key-name), both loaded from
--curve-dir with zmq.auth.load_certificate, connected to
tcp://COLLECTOR_HOST:PORT.

Messages (frame 0 is an ASCII header):
  CTRL = [b"CTRL", utf-8 text]                 text: hello | model | ping
  METR = [b"METR", utf-8 hostname, JSON object (json.dumps), b"metrics"|b"model"]

Behaviour:
  * sends CTRL hello at start;
  * on CTRL model: answers METR model {"mem.total", "mem.swap.total"} (kB, from
    /proc/meminfo) at most once per --model-min-interval (5 s; a request inside
    that window is reported as model_skipped), and from the first one on sends
    METR metrics every --interval (1 s): sys.uptime (s, /proc/uptime),
    mem.free, mem.avail, mem.buffers, mem.cached, mem.dirty, mem.writeback,
    mem.swap.free (kB, /proc/meminfo) and cpu.percent (0-100, from /proc/stat
    deltas; the first sample measures since the agent started);
  * on CTRL ping: only reports it (a recv event);
  * when nothing came from the collector for --silence (10 s) seconds: reports
    silence and sends CTRL hello again (and again every --silence seconds of
    continued silence); it never exits on its own.

Every event is printed to stdout as ONE JSON object per line, flushed:
  {"event":"connecting","endpoint":...,"routing_id":...,"hostname":...,"public_key":...}
  {"event":"tcp_connected"|"connected"|"disconnected"|"connect_retried"|
           "handshake_failed"|"handshake_failed_protocol"|"handshake_failed_auth",
   "endpoint":...,"value":...}                          (socket monitor; connected =
                                                         CURVE handshake succeeded)
  {"event":"sent","header":"CTRL","text":"hello"}
  {"event":"recv","header":"CTRL","text":"model"|"ping"|...,"frames":2}
  {"event":"recv","header":...,"frames":N,"sizes":[...]}   (anything else)
  {"event":"model_sent","hostname":...,"values":{...}}
  {"event":"model_skipped","hostname":...,"since":s,"min_interval":s}
  {"event":"metrics_sent","hostname":...,"seq":n,"values":{...}}
  {"event":"silence","silent_for":s}
  {"event":"send_error","header":...,"error":...}
  {"event":"error","error":...}                         (then exit status 2)
  {"event":"exit","reason":"SIGTERM"|"SIGINT"|"duration","metrics_sent":n}
It exits cleanly (status 0) on SIGTERM/SIGINT, or after --duration seconds.
"""

import argparse
import json
import os
import random
import signal
import socket
import string
import sys
import threading
import time

import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

STOP = {"reason": None}
EMIT_LOCK = threading.Lock()

MEMINFO_MODEL = (("mem.total", "MemTotal"), ("mem.swap.total", "SwapTotal"))
MEMINFO_METRICS = (
    ("mem.free", "MemFree"),
    ("mem.avail", "MemAvailable"),
    ("mem.buffers", "Buffers"),
    ("mem.cached", "Cached"),
    ("mem.dirty", "Dirty"),
    ("mem.writeback", "Writeback"),
    ("mem.swap.free", "SwapFree"),
)

MONITOR_NAMES = {
    zmq.EVENT_CONNECTED: "tcp_connected",
    zmq.EVENT_CONNECT_RETRIED: "connect_retried",
    zmq.EVENT_DISCONNECTED: "disconnected",
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "connected",
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


def tcp_endpoint(host, port):
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"tcp://{host}:{port}"


def random_routing_id():
    rng = random.SystemRandom()
    return "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))


def read_meminfo():
    """/proc/meminfo as {field: kB}."""
    out = {}
    with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
        for line in f:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                try:
                    out[name.strip()] = int(parts[0])
                except ValueError:
                    pass
    return out


def read_uptime():
    with open("/proc/uptime", encoding="ascii") as f:
        return float(f.read().split()[0])


def read_cpu_times():
    """(busy, total) jiffies of the aggregate `cpu` line of /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            if line.startswith("cpu "):
                # user nice system idle iowait irq softirq steal [guest guest_nice]
                # (guest time is already counted in user/nice).
                vals = [int(v) for v in line.split()[1:9]]
                vals += [0] * (8 - len(vals))
                total = sum(vals)
                idle = vals[3] + vals[4]
                return total - idle, total
    return 0, 0


class CpuMeter:
    def __init__(self):
        self.prev = read_cpu_times()

    def percent(self):
        cur = read_cpu_times()
        busy = cur[0] - self.prev[0]
        total = cur[1] - self.prev[1]
        self.prev = cur
        if total <= 0:
            return 0.0
        return round(min(100.0, max(0.0, 100.0 * busy / total)), 2)


def model_values():
    mem = read_meminfo()
    return {key: mem.get(field, 0) for key, field in MEMINFO_MODEL}


def metrics_values(cpu):
    mem = read_meminfo()
    values = {"sys.uptime": read_uptime()}
    for key, field in MEMINFO_METRICS:
        values[key] = mem.get(field, 0)
    values["cpu.percent"] = cpu.percent()
    return values


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("collector_host", help="host name or IP of the collector")
    ap.add_argument("--port", type=int, default=5556, help="collector's agent port")
    ap.add_argument("--curve-dir", default="~/.curve",
                    help="directory with NAME.key / NAME.key_secret certificate files")
    ap.add_argument("--key-name", default="agent", help="our key pair name in --curve-dir")
    ap.add_argument("--server-key-name", default="collector",
                    help="the collector's public key name in --curve-dir")
    ap.add_argument("--hostname", default=None,
                    help="host name reported in METR (default: this machine's)")
    ap.add_argument("--routing-id", default=None,
                    help="DEALER routing id (default: 16 random [A-Z0-9] characters)")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between METR metrics")
    ap.add_argument("--silence", type=float, default=10.0,
                    help="say so and re-send hello after this many seconds without a message")
    ap.add_argument("--model-min-interval", type=float, default=5.0,
                    help="answer CTRL model at most once per this many seconds")
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
        server_public, _ = zmq.auth.load_certificate(
            os.path.join(curve_dir, f"{args.server_key_name}.key"))
    except (OSError, ValueError) as e:
        emit("error", error=f"cannot load CURVE keys from {curve_dir}: {e}")
        return 2

    hostname = args.hostname or socket.gethostname()
    routing_id = args.routing_id or random_routing_id()
    endpoint = tcp_endpoint(args.collector_host, args.port)

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.routing_id = routing_id.encode()
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.curve_serverkey = server_public
    if ":" in args.collector_host:
        sock.ipv6 = True
    monitor = sock.get_monitor_socket()
    sock.connect(endpoint)
    emit("connecting", endpoint=endpoint, routing_id=routing_id, hostname=hostname,
         public_key=public.decode("ascii"), pid=os.getpid(),
         zmq=zmq.zmq_version(), pyzmq=zmq.pyzmq_version())

    def send(frames, header, **fields):
        try:
            sock.send_multipart(frames, zmq.NOBLOCK)
            return True
        except zmq.ZMQError as e:
            emit("send_error", header=header, error=str(e), **fields)
            return False

    def send_ctrl(word):
        if send([b"CTRL", word.encode()], "CTRL", text=word):
            emit("sent", header="CTRL", text=word)

    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(monitor, zmq.POLLIN)

    cpu = CpuMeter()
    start = time.monotonic()
    last_heard = start        # last message from the collector
    silence_mark = start      # last message, or the last silence report
    last_model = None         # when model data was last sent
    next_metrics = None       # None until the collector first asks for the model
    seq = 0                   # metrics samples taken
    metrics_count = 0         # METR metrics actually queued

    send_ctrl("hello")

    while STOP["reason"] is None:
        now = time.monotonic()
        if args.duration is not None and now - start >= args.duration:
            STOP["reason"] = "duration"
            break
        wake = silence_mark + args.silence
        if next_metrics is not None:
            wake = min(wake, next_metrics)
        timeout_ms = max(0, min(100, int((wake - now) * 1000)))
        events = dict(poller.poll(timeout_ms))

        if monitor in events:
            while True:
                try:
                    ev = recv_monitor_message(monitor, zmq.NOBLOCK)
                except zmq.Again:
                    break
                name = MONITOR_NAMES.get(ev["event"])
                if name is not None:
                    emit(name, endpoint=text(ev["endpoint"]), value=ev["value"])

        if sock in events:
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = time.monotonic()
                last_heard = silence_mark = now
                header = frames[0] if frames else b""
                if header == b"CTRL" and len(frames) >= 2:
                    word = text(frames[1])
                    emit("recv", header="CTRL", text=word, frames=len(frames))
                    if word == "model":
                        if next_metrics is None:
                            next_metrics = now
                        if last_model is not None and now - last_model < args.model_min_interval:
                            emit("model_skipped", hostname=hostname,
                                 since=round(now - last_model, 3),
                                 min_interval=args.model_min_interval)
                        else:
                            values = model_values()
                            if send([b"METR", hostname.encode(), json.dumps(values).encode(),
                                     b"model"], "METR", kind="model"):
                                last_model = now
                                emit("model_sent", hostname=hostname, values=values)
                else:
                    emit("recv", header=text(header), frames=len(frames),
                         sizes=[len(f) for f in frames])

        now = time.monotonic()
        if next_metrics is not None and now >= next_metrics:
            values = metrics_values(cpu)
            seq += 1
            if send([b"METR", hostname.encode(), json.dumps(values).encode(), b"metrics"],
                    "METR", kind="metrics"):
                metrics_count += 1
                emit("metrics_sent", hostname=hostname, seq=seq, values=values)
            next_metrics += args.interval
            if next_metrics < now:
                next_metrics = now + args.interval

        if now - silence_mark >= args.silence:
            emit("silence", silent_for=round(now - last_heard, 3))
            silence_mark = now
            send_ctrl("hello")

    emit("exit", reason=STOP["reason"], metrics_sent=metrics_count)
    sock.disable_monitor()
    monitor.close(0)
    sock.close(0)
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
