# Weather update client: SUB to tcp://localhost:5556, zipcode filter argv[1] (default 10001).
#
# Behaves as the ZeroMQ Guide's examples/Python/wuclient.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import sys

import zmq


def main(zip_filter):
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    print("Collecting updates from weather server...")
    sub.connect("tcp://localhost:5556")
    sub.setsockopt_string(zmq.SUBSCRIBE, zip_filter)
    total_temp = 0
    count = 100
    for _ in range(count):
        _zipcode, temperature, _relhumidity = sub.recv_string().split()
        total_temp += int(temperature)
    print("Average temperature for zipcode '%s' was %s F" % (zip_filter, total_temp / count))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "10001")
