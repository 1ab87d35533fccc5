/*
 * The libzmq side of courier-bench: the same roles and flags as `courier-bench peer`
 * (see bench/src/peer.rs). Built by scripts/bench.sh with
 *
 *     cc -O2 -o target/bench/libzmq-peer bench/c/peer.c -lzmq
 *
 * Benchmarks only: the product never needs a C toolchain.
 *
 * Binding roles print "READY <endpoint>" first; every role ends with one JSON line.
 * `--version` prints libzmq's version and whether it has CURVE.
 * CURVE keys (Z85) come from BENCH_CURVE_{SERVER,CLIENT}_{SECRET,PUBLIC}.
 *
 * One role is libzmq-only: `hello-server`, the libzmq counterpart of courier-server for the
 * server-scale case (see hello_server below).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static const char *role = "";
static const char *endpoint = "";
static size_t size = 64;
static double duration = 1.0;
static int inflight = 1024;
static int hwm = 1000;
static int curve = 0;
static double limit = 61.0;
static unsigned long long max_msgs = ~0ULL;
static int count = 1;
static int ctx_terminated = 0;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long status_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long value = 0;
    size_t n = strlen(field);
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            value = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return value;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int fail(const char *what) {
    printf("{\"error\": \"%s: %s\"}\n", what, zmq_strerror(zmq_errno()));
    fflush(stdout);
    exit(1);
}

/* Prints a result object: `fields` is the inside of a JSON object, without braces. */
static void result(const char *fields) {
    printf("{%s, \"cpu_s\": %.3f, \"peak_rss_kb\": %ld}\n", fields, cpu_s(), status_kb("VmHWM"));
    fflush(stdout);
}

static void set_int(void *s, int opt, int v) {
    if (zmq_setsockopt(s, opt, &v, sizeof v) != 0) fail("zmq_setsockopt");
}

static void set_key(void *s, int opt, const char *var) {
    const char *k = getenv(var);
    if (!k) {
        printf("{\"error\": \"--curve needs %s\"}\n", var);
        exit(1);
    }
    if (zmq_setsockopt(s, opt, k, strlen(k)) != 0) fail("curve key");
}

static void *make_socket(void *ctx, int type, int server) {
    void *s = zmq_socket(ctx, type);
    if (!s) fail("zmq_socket");
    set_int(s, ZMQ_SNDHWM, hwm);
    set_int(s, ZMQ_RCVHWM, hwm);
    set_int(s, ZMQ_LINGER, 10000);
    set_int(s, ZMQ_RCVTIMEO, (int)(limit * 1000));
    if (curve) {
        if (server) {
            set_int(s, ZMQ_CURVE_SERVER, 1);
            set_key(s, ZMQ_CURVE_SECRETKEY, "BENCH_CURVE_SERVER_SECRET");
        } else {
            set_key(s, ZMQ_CURVE_SERVERKEY, "BENCH_CURVE_SERVER_PUBLIC");
            set_key(s, ZMQ_CURVE_PUBLICKEY, "BENCH_CURVE_CLIENT_PUBLIC");
            set_key(s, ZMQ_CURVE_SECRETKEY, "BENCH_CURVE_CLIENT_SECRET");
        }
    }
    return s;
}

static void *bound_router(void *ctx) {
    char ep[256];
    size_t len = sizeof ep;
    void *s = make_socket(ctx, ZMQ_ROUTER, 1);
    if (zmq_bind(s, "tcp://127.0.0.1:*") != 0) fail("zmq_bind");
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len) != 0) fail("ZMQ_LAST_ENDPOINT");
    printf("READY %s\n", ep);
    fflush(stdout);
    return s;
}

static void *connected_dealer(void *ctx) {
    void *s = make_socket(ctx, ZMQ_DEALER, 0);
    if (zmq_connect(s, endpoint) != 0) fail("zmq_connect");
    return s;
}

#define MAX_PARTS 8

/* Receives one multipart message into parts[0..]; returns the number of frames. */
static int recv_parts(void *s, zmq_msg_t *parts) {
    int n = 0;
    for (;;) {
        if (zmq_msg_recv(&parts[n], s, 0) < 0) fail("zmq_msg_recv");
        n++;
        if (!zmq_msg_more(&parts[n - 1])) return n;
        if (n == MAX_PARTS) {
            printf("{\"error\": \"more than %d frames\"}\n", MAX_PARTS);
            exit(1);
        }
    }
}

/* Sends parts[0..n] and re-initialises them (zmq_msg_send takes their content). */
static void send_parts(void *s, zmq_msg_t *parts, int n) {
    for (int i = 0; i < n; i++) {
        if (zmq_msg_send(&parts[i], s, i + 1 < n ? ZMQ_SNDMORE : 0) < 0) fail("zmq_msg_send");
        zmq_msg_init(&parts[i]);
    }
}

static int part_is(zmq_msg_t *m, const char *text) {
    size_t n = strlen(text);
    return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), text, n) == 0;
}

static void send_two(void *s, const void *a, size_t alen, const void *b, size_t blen) {
    if (zmq_send(s, a, alen, ZMQ_SNDMORE) < 0) fail("zmq_send");
    if (zmq_send(s, b, blen, 0) < 0) fail("zmq_send");
}

/* A ROUTER reply: the routing id of `id`, then `text`. */
static void reply_to(void *s, zmq_msg_t *id, const char *text) {
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, id);
    if (zmq_msg_send(&copy, s, ZMQ_SNDMORE) < 0) fail("zmq_msg_send");
    if (zmq_send(s, text, strlen(text), 0) < 0) fail("zmq_send");
}

static void init_parts(zmq_msg_t *parts) {
    for (int i = 0; i < MAX_PARTS; i++) zmq_msg_init(&parts[i]);
}

static void thr_recv(void *ctx) {
    void *s = bound_router(ctx);
    zmq_msg_t parts[MAX_PARTS];
    double first = 0;
    unsigned long long msgs = 0, bytes = 0;
    init_parts(parts);
    for (;;) {
        int n = recv_parts(s, parts);
        if (n >= 2 && part_is(&parts[1], "END")) {
            double secs = first > 0 ? now_s() - first : 0;
            char buf[512];
            reply_to(s, &parts[0], "ACK");
            snprintf(buf, sizeof buf,
                     "\"msgs\": %llu, \"body_bytes\": %llu, \"secs\": %.6f, \"msg_per_s\": %.1f, "
                     "\"mb_per_s\": %.3f",
                     msgs, bytes, secs, secs > 0 ? msgs / secs : 0.0,
                     secs > 0 ? bytes / secs / 1e6 : 0.0);
            zmq_close(s);
            result(buf);
            return;
        }
        if (first == 0) {
            first = now_s();
            continue;
        }
        msgs++;
        if (n >= 3) bytes += zmq_msg_size(&parts[2]);
    }
}

static void thr_send(void *ctx) {
    void *s = connected_dealer(ctx);
    char *body = malloc(size ? size : 1);
    unsigned long long sent = 0;
    double start = now_s();
    char buf[256];
    zmq_msg_t parts[MAX_PARTS];
    memset(body, 0x5a, size);
    while (now_s() - start < duration && sent < max_msgs) {
        for (int i = 0; i < 64; i++) send_two(s, "DATA", 4, body, size);
        sent += 64;
    }
    send_two(s, "END", 3, "", 0);
    init_parts(parts);
    recv_parts(s, parts);
    if (!part_is(&parts[0], "ACK")) fail("expected ACK");
    snprintf(buf, sizeof buf, "\"sent\": %llu, \"send_secs\": %.6f", sent, now_s() - start);
    zmq_close(s);
    result(buf);
}

static void echo(void *ctx) {
    void *s = bound_router(ctx);
    zmq_msg_t parts[MAX_PARTS];
    unsigned long long echoed = 0;
    char buf[128];
    init_parts(parts);
    for (;;) {
        int n = recv_parts(s, parts);
        int end = n >= 2 && part_is(&parts[1], "END");
        send_parts(s, parts, n);
        echoed++;
        if (end) break;
    }
    snprintf(buf, sizeof buf, "\"echoed\": %llu", echoed);
    zmq_close(s);
    result(buf);
}

static void round_trip(void *s, const char *body, zmq_msg_t *parts) {
    send_two(s, "DATA", 4, body, size);
    recv_parts(s, parts);
}

static void finish_echo(void *s, zmq_msg_t *parts) {
    send_two(s, "END", 3, "", 0);
    recv_parts(s, parts);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double quantile_us(uint64_t *v, size_t n, double q) {
    size_t rank;
    if (n == 0) return 0;
    rank = (size_t)(q * (double)n + 0.999999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1] / 1000.0;
}

static void lat(void *ctx) {
    void *s = connected_dealer(ctx);
    char *body = malloc(size ? size : 1);
    size_t cap = 1 << 20, n = 0;
    uint64_t *rtts = malloc(cap * sizeof *rtts);
    zmq_msg_t parts[MAX_PARTS];
    double warm_until, start, sum = 0;
    char buf[512];
    memset(body, 0x5a, size);
    init_parts(parts);
    warm_until = now_s() + duration / 10;
    while (now_s() < warm_until) round_trip(s, body, parts);
    start = now_s();
    while (now_s() - start < duration) {
        double t = now_s();
        round_trip(s, body, parts);
        if (n == cap) {
            cap *= 2;
            rtts = realloc(rtts, cap * sizeof *rtts);
        }
        rtts[n++] = (uint64_t)((now_s() - t) * 1e9);
    }
    finish_echo(s, parts);
    qsort(rtts, n, sizeof *rtts, cmp_u64);
    for (size_t i = 0; i < n; i++) sum += rtts[i];
    snprintf(buf, sizeof buf,
             "\"samples\": %zu, \"min_us\": %.3f, \"p50_us\": %.3f, \"p99_us\": %.3f, "
             "\"p999_us\": %.3f, \"max_us\": %.3f, \"mean_us\": %.3f",
             n, n ? rtts[0] / 1000.0 : 0, quantile_us(rtts, n, 0.5), quantile_us(rtts, n, 0.99),
             quantile_us(rtts, n, 0.999), n ? rtts[n - 1] / 1000.0 : 0,
             n ? sum / n / 1000.0 : 0);
    zmq_close(s);
    result(buf);
}

static void pipe_role(void *ctx) {
    void *s = connected_dealer(ctx);
    char *body = malloc(size ? size : 1);
    zmq_msg_t parts[MAX_PARTS];
    double start, end;
    int outstanding = inflight;
    unsigned long long completed = 0;
    char buf[256];
    memset(body, 0x5a, size);
    init_parts(parts);
    round_trip(s, body, parts);
    start = now_s();
    end = start + duration;
    for (int i = 0; i < inflight; i++) send_two(s, "DATA", 4, body, size);
    while (outstanding > 0) {
        recv_parts(s, parts);
        if (now_s() < end) {
            completed++;
            send_two(s, "DATA", 4, body, size);
        } else {
            outstanding--;
        }
    }
    finish_echo(s, parts);
    snprintf(buf, sizeof buf, "\"completed\": %llu, \"secs\": %.6f, \"req_per_s\": %.1f", completed,
             duration, completed / duration);
    zmq_close(s);
    result(buf);
}

static void big_recv(void *ctx) {
    void *s = bound_router(ctx);
    zmq_msg_t parts[MAX_PARTS];
    long before, peak;
    size_t received;
    int n;
    char buf[256];
    init_parts(parts);
    n = recv_parts(s, parts);
    send_parts(s, parts, n);
    before = status_kb("VmRSS");
    n = recv_parts(s, parts);
    received = n >= 3 ? zmq_msg_size(&parts[2]) : 0;
    if (n < 3 || !part_is(&parts[1], "BIG") || received != size) {
        printf("{\"error\": \"expected BIG of %zu bytes, got %zu\"}\n", size, received);
        exit(1);
    }
    peak = status_kb("VmHWM");
    reply_to(s, &parts[0], "ACK");
    for (int i = 0; i < n; i++) zmq_msg_close(&parts[i]);
    snprintf(buf, sizeof buf,
             "\"bytes\": %zu, \"rss_before_kb\": %ld, \"peak_at_receipt_kb\": %ld", received,
             before, peak);
    zmq_close(s);
    result(buf);
}

static void free_body(void *data, void *hint) {
    (void)hint;
    free(data);
}

static void big_send(void *ctx) {
    void *s = connected_dealer(ctx);
    zmq_msg_t parts[MAX_PARTS], body;
    char *data;
    long before;
    double start, secs;
    char buf[256];
    init_parts(parts);
    if (zmq_send(s, "WARM", 4, 0) < 0) fail("zmq_send");
    recv_parts(s, parts);
    data = malloc(size);
    memset(data, 0xa5, size);
    before = status_kb("VmRSS");
    start = now_s();
    /* Zero-copy: libzmq frees the buffer once written. */
    zmq_msg_init_data(&body, data, size, free_body, NULL);
    if (zmq_send(s, "BIG", 3, ZMQ_SNDMORE) < 0) fail("zmq_send");
    if (zmq_msg_send(&body, s, 0) < 0) fail("zmq_msg_send");
    recv_parts(s, parts);
    secs = now_s() - start;
    if (!part_is(&parts[0], "ACK")) fail("expected ACK");
    snprintf(buf, sizeof buf, "\"secs\": %.6f, \"rss_before_kb\": %ld", secs, before);
    zmq_close(s);
    result(buf);
}

/* A socket of `type` bound to a free port on 127.0.0.1, announced with READY. */
static void *bound(void *ctx, int type) {
    char ep[256];
    size_t len = sizeof ep;
    void *s = make_socket(ctx, type, 1);
    if (zmq_bind(s, "tcp://127.0.0.1:*") != 0) fail("zmq_bind");
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len) != 0) fail("ZMQ_LAST_ENDPOINT");
    printf("READY %s\n", ep);
    fflush(stdout);
    return s;
}

static void *connected(void *ctx, int type) {
    void *s = make_socket(ctx, type, 0);
    if (zmq_connect(s, endpoint) != 0) fail("zmq_connect");
    return s;
}

static void throughput_result(unsigned long long msgs, unsigned long long bytes, double secs) {
    char buf[512];
    snprintf(buf, sizeof buf,
             "\"msgs\": %llu, \"body_bytes\": %llu, \"secs\": %.6f, \"msg_per_s\": %.1f, "
             "\"mb_per_s\": %.3f",
             msgs, bytes, secs, secs > 0 ? msgs / secs : 0.0, secs > 0 ? bytes / secs / 1e6 : 0.0);
    result(buf);
}

/* push-recv: a PULL counting [DATA, body] until END (PULL cannot answer). */
static void push_recv(void *ctx) {
    void *s = bound(ctx, ZMQ_PULL);
    zmq_msg_t parts[MAX_PARTS];
    double first = 0, secs;
    unsigned long long msgs = 0, bytes = 0;
    init_parts(parts);
    for (;;) {
        int n = recv_parts(s, parts);
        if (part_is(&parts[0], "END")) break;
        if (first == 0) {
            first = now_s();
            continue;
        }
        msgs++;
        if (n >= 2) bytes += zmq_msg_size(&parts[1]);
    }
    secs = first > 0 ? now_s() - first : 0;
    zmq_close(s);
    throughput_result(msgs, bytes, secs);
}

/* push-send: a PUSH sending [DATA, body] for --duration, then END. */
static void push_send(void *ctx) {
    void *s = connected(ctx, ZMQ_PUSH);
    char *body = malloc(size ? size : 1);
    unsigned long long sent = 0;
    double start = now_s(), send_secs;
    char buf[256];
    memset(body, 0x5a, size);
    while (now_s() - start < duration && sent < max_msgs) {
        for (int i = 0; i < 64; i++) send_two(s, "DATA", 4, body, size);
        sent += 64;
    }
    send_two(s, "END", 3, "", 0);
    send_secs = now_s() - start;
    zmq_close(s);
    /* Terminating the context waits (up to linger) until the rest and END are written, as
     * courier's close does before its result: that CPU time counts too. */
    zmq_ctx_term(ctx);
    ctx_terminated = 1;
    snprintf(buf, sizeof buf, "\"sent\": %llu, \"send_secs\": %.6f", sent, send_secs);
    result(buf);
}

/* What the driver has said on standard input: 1 for a line "GO", -1 at its end, 0 nothing. */
static int stdin_word(void) {
    struct pollfd p = {0, POLLIN, 0};
    char line[64];
    if (poll(&p, 1, 0) <= 0) return 0;
    if (!fgets(line, sizeof line, stdin)) return -1;
    return strncmp(line, "GO", 2) == 0 ? 1 : 0;
}

/* fan-pub: WARM every ms until GO, DATA for --duration, END every 10 ms until stdin ends. */
static void fan_pub(void *ctx) {
    void *s = bound(ctx, ZMQ_PUB);
    char *body = malloc(size ? size : 1);
    unsigned long long sent = 0;
    double start, send_secs;
    char buf[256];
    int word;
    memset(body, 0x5a, size);
    while ((word = stdin_word()) == 0) {
        send_two(s, "WARM", 4, "", 0);
        usleep(1000);
    }
    if (word < 0) {
        printf("{\"error\": \"standard input ended before GO\"}\n");
        exit(1);
    }
    start = now_s();
    while (now_s() - start < duration && sent < max_msgs) {
        for (int i = 0; i < 64; i++) send_two(s, "DATA", 4, body, size);
        sent += 64;
    }
    send_secs = now_s() - start;
    while (stdin_word() >= 0) {
        send_two(s, "END", 3, "", 0);
        usleep(10000);
    }
    set_int(s, ZMQ_LINGER, 0);
    zmq_close(s);
    snprintf(buf, sizeof buf, "\"sent\": %llu, \"send_secs\": %.6f", sent, send_secs);
    result(buf);
}

/* fan-sub: --count SUB sockets subscribed to everything, polled from this one thread;
 * SUBSCRIBED once each has a message; counts DATA until each has END. */
static void fan_sub(void *ctx) {
    void **subs = calloc((size_t)count, sizeof *subs);
    zmq_pollitem_t *items = calloc((size_t)count, sizeof *items);
    unsigned long long *counts = calloc((size_t)count, sizeof *counts);
    char *heard = calloc((size_t)count, 1), *ended = calloc((size_t)count, 1);
    int n_heard = 0, n_ended = 0, announced = 0;
    unsigned long long bytes = 0, total = 0, lo = ~0ULL, hi = 0;
    double first = 0, last_end = 0, secs;
    zmq_msg_t parts[MAX_PARTS];
    char buf[512];
    if (count < 1) {
        printf("{\"error\": \"--count must be at least 1\"}\n");
        exit(1);
    }
    init_parts(parts);
    for (int i = 0; i < count; i++) {
        subs[i] = connected(ctx, ZMQ_SUB);
        if (zmq_setsockopt(subs[i], ZMQ_SUBSCRIBE, "", 0) != 0) fail("ZMQ_SUBSCRIBE");
        items[i].socket = subs[i];
        items[i].events = ZMQ_POLLIN;
    }
    while (n_ended < count) {
        int rc = zmq_poll(items, count, (long)(limit * 1000));
        if (rc < 0) fail("zmq_poll");
        if (rc == 0) {
            printf("{\"error\": \"nothing received for %.0f s\"}\n", limit);
            exit(1);
        }
        for (int i = 0; i < count; i++) {
            if (!(items[i].revents & ZMQ_POLLIN)) continue;
            /* A bounded batch per socket, so that one busy socket does not starve the others. */
            for (int m = 0; m < 256; m++) {
                int n = 0, more = 1;
                while (more) {
                    if (zmq_msg_recv(&parts[n], subs[i], n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                        if (n == 0 && zmq_errno() == EAGAIN) break;
                        fail("zmq_msg_recv");
                    }
                    more = zmq_msg_more(&parts[n]);
                    if (n + 1 < MAX_PARTS) n++;
                }
                if (n == 0) break;
                if (!heard[i]) {
                    heard[i] = 1;
                    if (++n_heard == count && !announced) {
                        announced = 1;
                        printf("SUBSCRIBED\n");
                        fflush(stdout);
                    }
                }
                if (ended[i]) continue;
                if (part_is(&parts[0], "DATA")) {
                    if (first == 0) {
                        first = now_s();
                    } else {
                        counts[i]++;
                        if (n >= 2) bytes += zmq_msg_size(&parts[1]);
                    }
                } else if (part_is(&parts[0], "END")) {
                    ended[i] = 1;
                    n_ended++;
                    last_end = now_s();
                }
            }
        }
    }
    secs = first > 0 && last_end > first ? last_end - first : 0;
    for (int i = 0; i < count; i++) {
        total += counts[i];
        if (counts[i] < lo) lo = counts[i];
        if (counts[i] > hi) hi = counts[i];
        set_int(subs[i], ZMQ_LINGER, 0);
        zmq_close(subs[i]);
    }
    snprintf(buf, sizeof buf,
             "\"subscribers\": %d, \"msgs\": %llu, \"body_bytes\": %llu, \"secs\": %.6f, "
             "\"msg_per_s\": %.1f, \"mb_per_s\": %.3f, \"per_sub_min\": %llu, "
             "\"per_sub_max\": %llu",
             count, total, bytes, secs, secs > 0 ? total / secs : 0.0,
             secs > 0 ? bytes / secs / 1e6 : 0.0, lo, hi);
    result(buf);
}

/* rep: a REP sending every request back, until END. */
static void rep(void *ctx) {
    void *s = bound(ctx, ZMQ_REP);
    zmq_msg_t parts[MAX_PARTS];
    unsigned long long replied = 0;
    char buf[128];
    init_parts(parts);
    for (;;) {
        int n = recv_parts(s, parts);
        int end = part_is(&parts[0], "END");
        send_parts(s, parts, n);
        replied++;
        if (end) break;
    }
    snprintf(buf, sizeof buf, "\"replied\": %llu", replied);
    zmq_close(s);
    result(buf);
}

/* req: one request at a time for --duration (after a tenth of it to warm up): RTTs. */
static void req(void *ctx) {
    void *s = connected(ctx, ZMQ_REQ);
    char *body = malloc(size ? size : 1);
    size_t cap = 1 << 20, n = 0;
    uint64_t *rtts = malloc(cap * sizeof *rtts);
    zmq_msg_t parts[MAX_PARTS];
    double warm_until, start, sum = 0;
    char buf[512];
    memset(body, 0x5a, size);
    init_parts(parts);
    warm_until = now_s() + duration / 10;
    while (now_s() < warm_until) round_trip(s, body, parts);
    start = now_s();
    while (now_s() - start < duration) {
        double t = now_s();
        round_trip(s, body, parts);
        if (n == cap) {
            cap *= 2;
            rtts = realloc(rtts, cap * sizeof *rtts);
        }
        rtts[n++] = (uint64_t)((now_s() - t) * 1e9);
    }
    finish_echo(s, parts);
    qsort(rtts, n, sizeof *rtts, cmp_u64);
    for (size_t i = 0; i < n; i++) sum += rtts[i];
    snprintf(buf, sizeof buf,
             "\"samples\": %zu, \"min_us\": %.3f, \"p50_us\": %.3f, \"p99_us\": %.3f, "
             "\"p999_us\": %.3f, \"max_us\": %.3f, \"mean_us\": %.3f",
             n, n ? rtts[0] / 1000.0 : 0, quantile_us(rtts, n, 0.5), quantile_us(rtts, n, 0.99),
             quantile_us(rtts, n, 0.999), n ? rtts[n - 1] / 1000.0 : 0,
             n ? sum / n / 1000.0 : 0);
    zmq_close(s);
    result(buf);
}

/*
 * hello-server: what courier-server does on its defaults (crates/server/src/server.rs), on
 * libzmq. A ROUTER bound to --endpoint learns a client by routing id from its first message
 * and remembers when it last heard from it; every second it forgets clients silent for more
 * than 10 s and sends [id, "HELLO"] to the rest. With --curve it is a CURVE server that accepts
 * any client (no ZAP handler). Nothing is logged per message. Runs until SIGTERM or SIGINT (how
 * the driver stops both servers) or until standard input ends, then prints one JSON line.
 */

#define GREET_INTERVAL_S 1.0
#define STALE_AFTER_S 10.0

struct client {
    unsigned char *id;
    size_t len;
    double last_seen;
};

/* The known clients, and an open-addressing index into them (slot = index + 1, 0 = empty). */
static struct client *clients;
static size_t n_clients, cap_clients;
static size_t *slots;
static size_t n_slots; /* a power of two, more than twice n_clients */

static volatile sig_atomic_t stop_signal = 0;

static void on_stop_signal(int sig) {
    (void)sig;
    stop_signal = 1;
}

static size_t hash_id(const unsigned char *id, size_t len) {
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ id[i]) * 1099511628211ULL;
    return (size_t)h;
}

static void *xalloc(void *p, size_t bytes) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) {
        printf("{\"error\": \"out of memory\"}\n");
        exit(1);
    }
    return q;
}

/* The slot holding `id`, or the empty slot where it would go. */
static size_t find_slot(const unsigned char *id, size_t len) {
    size_t mask = n_slots - 1, i = hash_id(id, len) & mask;
    for (;;) {
        size_t s = slots[i];
        if (s == 0) return i;
        if (clients[s - 1].len == len && memcmp(clients[s - 1].id, id, len) == 0) return i;
        i = (i + 1) & mask;
    }
}

/* Rebuilds the index from `clients` (after growth or after forgetting clients). */
static void reindex(size_t want_slots) {
    n_slots = want_slots;
    slots = xalloc(slots, n_slots * sizeof *slots);
    memset(slots, 0, n_slots * sizeof *slots);
    for (size_t c = 0; c < n_clients; c++) slots[find_slot(clients[c].id, clients[c].len)] = c + 1;
}

/* Notes a message from `id`; returns 1 if the client is new. */
static int heard_from(const unsigned char *id, size_t len, double now) {
    size_t i = find_slot(id, len);
    if (slots[i] != 0) {
        clients[slots[i] - 1].last_seen = now;
        return 0;
    }
    if (n_clients == cap_clients) {
        cap_clients = cap_clients ? cap_clients * 2 : 1024;
        clients = xalloc(clients, cap_clients * sizeof *clients);
    }
    clients[n_clients].id = xalloc(NULL, len);
    memcpy(clients[n_clients].id, id, len);
    clients[n_clients].len = len;
    clients[n_clients].last_seen = now;
    n_clients++;
    if (n_clients * 2 > n_slots) reindex(n_slots * 2);
    else slots[i] = n_clients;
    return 1;
}

/* Forgets stale clients; returns how many. */
static size_t forget_stale(double now) {
    size_t kept = 0, dropped;
    for (size_t c = 0; c < n_clients; c++) {
        if (now - clients[c].last_seen > STALE_AFTER_S) {
            free(clients[c].id);
        } else {
            clients[kept++] = clients[c];
        }
    }
    dropped = n_clients - kept;
    n_clients = kept;
    if (dropped) reindex(n_slots);
    return dropped;
}

static void hello_server(void *ctx) {
    char ep[256];
    size_t len = sizeof ep;
    void *s = make_socket(ctx, ZMQ_ROUTER, 1);
    struct sigaction sa;
    double next_greet, started = now_s();
    unsigned long long received = 0, hellos_sent = 0, learned = 0, forgotten = 0, dropped_sends = 0;
    char buf[512];
    zmq_msg_t part;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: zmq_poll returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* courier-server listens with a backlog of 1024 (mio's); libzmq's default is 100, which
     * would make connects wait for SYN retries when hundreds arrive at once. Same queue for
     * both. */
    set_int(s, ZMQ_BACKLOG, 1024);
    if (zmq_bind(s, *endpoint ? endpoint : "tcp://127.0.0.1:*") != 0) fail("zmq_bind");
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len) != 0) fail("ZMQ_LAST_ENDPOINT");
    printf("READY %s\n", ep);
    fflush(stdout);
    reindex(2048);
    zmq_msg_init(&part);
    next_greet = now_s(); /* as courier-server: the first greeting is due at once */

    while (!stop_signal) {
        zmq_pollitem_t items[2] = {{s, 0, ZMQ_POLLIN, 0}, {NULL, 0, ZMQ_POLLIN, 0}};
        double now = now_s();
        long wait_ms;
        int rc;
        if (now >= next_greet) {
            forgotten += forget_stale(now);
            for (size_t c = 0; c < n_clients; c++) {
                /* A ROUTER never blocks on send: a peer whose queue is full loses the message,
                 * as courier's ROUTER does. */
                if (zmq_send(s, clients[c].id, clients[c].len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
                    zmq_send(s, "HELLO", 5, ZMQ_DONTWAIT) < 0) {
                    dropped_sends++;
                    continue;
                }
                hellos_sent++;
            }
            next_greet += GREET_INTERVAL_S;
            if (next_greet <= now) next_greet = now + GREET_INTERVAL_S;
            continue;
        }
        wait_ms = (long)((next_greet - now) * 1000.0) + 1;
        rc = zmq_poll(items, 2, wait_ms);
        if (rc < 0) {
            if (zmq_errno() == EINTR) continue;
            fail("zmq_poll");
        }
        /* A pipe whose writer has gone polls as POLLHUP, which zmq_poll reports as POLLERR. */
        if ((items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            ssize_t got = read(0, buf, sizeof buf);
            if (got <= 0) break; /* end of input: the driver is gone */
        }
        if (!(items[0].revents & ZMQ_POLLIN)) continue;
        /* Take what is queued, but not so much that a greeting comes late. */
        for (int m = 0; m < 4096; m++) {
            size_t id_len;
            int more;
            if (zmq_msg_recv(&part, s, ZMQ_DONTWAIT) < 0) {
                if (zmq_errno() == EAGAIN || zmq_errno() == EINTR) break;
                fail("zmq_msg_recv");
            }
            id_len = zmq_msg_size(&part);
            more = zmq_msg_more(&part);
            /* A message without a body frame is ignored, as courier-server ignores it. */
            if (more && heard_from(zmq_msg_data(&part), id_len, now_s())) learned++;
            while (more) {
                /* The rest of a message is already here: ROUTER delivers whole messages. */
                if (zmq_msg_recv(&part, s, 0) < 0) fail("zmq_msg_recv");
                more = zmq_msg_more(&part);
            }
            received++;
        }
    }
    zmq_msg_close(&part);
    snprintf(buf, sizeof buf,
             "\"clients\": %zu, \"learned\": %llu, \"forgotten\": %llu, \"received\": %llu, "
             "\"hellos_sent\": %llu, \"dropped_sends\": %llu, \"secs\": %.3f",
             n_clients, learned, forgotten, received, hellos_sent, dropped_sends,
             now_s() - started);
    set_int(s, ZMQ_LINGER, 0);
    zmq_close(s);
    result(buf);
}

int main(int argc, char **argv) {
    void *ctx;
    const char *impl = "libzmq";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(a, "--version") == 0) {
            int major, minor, patch;
            zmq_version(&major, &minor, &patch);
            printf("{\"libzmq\": \"%d.%d.%d\", \"curve\": %s}\n", major, minor, patch,
                   zmq_has("curve") ? "true" : "false");
            return 0;
        } else if (strcmp(a, "--curve") == 0) {
            curve = 1;
            continue;
        } else if (strcmp(a, "--role") == 0) role = v;
        else if (strcmp(a, "--endpoint") == 0) endpoint = v;
        else if (strcmp(a, "--size") == 0) size = strtoull(v, NULL, 10);
        else if (strcmp(a, "--duration") == 0) duration = strtod(v, NULL);
        else if (strcmp(a, "--inflight") == 0) inflight = atoi(v);
        else if (strcmp(a, "--hwm") == 0) hwm = atoi(v);
        else if (strcmp(a, "--limit") == 0) limit = strtod(v, NULL);
        else if (strcmp(a, "--max-msgs") == 0) max_msgs = strtoull(v, NULL, 10);
        else if (strcmp(a, "--count") == 0) count = atoi(v);
        else if (strcmp(a, "--impl") == 0) impl = v;
        else {
            printf("{\"error\": \"unknown flag %s\"}\n", a);
            return 2;
        }
        i++;
    }
    (void)impl;
    ctx = zmq_ctx_new();
    if (strcmp(role, "thr-recv") == 0) thr_recv(ctx);
    else if (strcmp(role, "thr-send") == 0) thr_send(ctx);
    else if (strcmp(role, "echo") == 0) echo(ctx);
    else if (strcmp(role, "lat") == 0) lat(ctx);
    else if (strcmp(role, "pipe") == 0) pipe_role(ctx);
    else if (strcmp(role, "big-recv") == 0) big_recv(ctx);
    else if (strcmp(role, "big-send") == 0) big_send(ctx);
    else if (strcmp(role, "push-recv") == 0) push_recv(ctx);
    else if (strcmp(role, "push-send") == 0) push_send(ctx);
    else if (strcmp(role, "fan-pub") == 0) fan_pub(ctx);
    else if (strcmp(role, "fan-sub") == 0) fan_sub(ctx);
    else if (strcmp(role, "rep") == 0) rep(ctx);
    else if (strcmp(role, "req") == 0) req(ctx);
    else if (strcmp(role, "hello-server") == 0) hello_server(ctx);
    else {
        printf("{\"error\": \"unknown role %s\"}\n", role);
        return 2;
    }
    if (!ctx_terminated) zmq_ctx_term(ctx);
    return 0;
}
