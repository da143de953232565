// openloop: a fixed-rate (open-loop) HTTP/1.1 load generator for benchmarks/run.sh.
//
// wrk is closed-loop: a connection sends its next request only when the previous answer
// arrived, so a stall delays the requests that should have been sent meanwhile and they are
// never timed ("coordinated omission"). Here every request has an intended send time fixed in
// advance (connection i sends at start + i/RATE, then every CONNS/RATE seconds), and its latency
// is measured from that intended time, not from when it could actually be sent. A request that
// waits behind a slow answer on its connection is charged for the wait, as a real client's
// would be.
//
// usage: openloop -p PORT -r RATE [-c CONNS] [-d SECONDS] [-P PATH] [-H 'Name: value']...
// prints one line:
//   RESULT scheduled=N completed=N errors=N incomplete=N rps=X p50_us=N p99_us=N p999_us=N
//          max_us=N lag_p99_us=N
// errors: answers other than 2xx plus broken connections. incomplete: requests due before the
// end that had no answer 2 s later; they count in the percentiles with the time they had
// waited so far (a lower bound). lag_p99_us: how late this program itself sent requests that
// found their connection free; when it is large the generator, not the target, was the limit.
// Answers must carry Content-Length (every target in run.sh does); chunked ones count as errors.
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { CONNECTING, IDLE, BUSY };

struct conn {
    int fd;
    enum state state;
    int64_t next_due;      // intended send time of this connection's next request (ns)
    int64_t intended;      // intended send time of the request in flight
    int64_t free_since;    // when the connection last became free to send
    size_t sent;           // bytes of the request written so far
    char buf[65536];       // response head being parsed
    size_t have;           // bytes in buf
    int64_t body_left;     // body bytes still to read once the head is parsed, -1 before
    int status;
};

struct samples { uint32_t *v; size_t n, cap; };

static struct sockaddr_in target;
static char request[8192];
static size_t request_len;
static int epfd;
static int64_t interval;  // ns between two requests of one connection
static uint64_t errors, completed;
static struct samples latency, lag;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void record(struct samples *s, int64_t ns) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) { perror("realloc"); exit(1); }
    }
    int64_t us = ns < 0 ? 0 : ns / 1000;
    s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

// Nearest-rank percentile of a sorted sample set.
static uint32_t percentile(const struct samples *s, double p) {
    if (s->n == 0) return 0;
    size_t rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > s->n) rank = s->n;
    return s->v[rank - 1];
}

static void open_conn(struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) { perror("socket"); exit(1); }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
        perror("connect");
        exit(1);
    }
    c->state = CONNECTING;
    c->have = 0;
    c->body_left = -1;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

// A broken connection: the request in flight is an error; reconnect and keep the schedule.
static void reset_conn(struct conn *c) {
    if (c->state == BUSY) {
        errors++;
        c->next_due += interval;
    }
    close(c->fd);
    open_conn(c);
}

static void want_write(struct conn *c, int on) {
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void send_rest(struct conn *c) {
    while (c->sent < request_len) {
        ssize_t n = write(c->fd, request + c->sent, request_len - c->sent);
        if (n < 0 && errno == EAGAIN) { want_write(c, 1); return; }
        if (n <= 0) { reset_conn(c); return; }
        c->sent += (size_t)n;
    }
}

static void start_request(struct conn *c, int64_t now) {
    c->intended = c->next_due;
    // Only the delay this program added: not the wait behind the previous answer.
    record(&lag, now - (c->free_since > c->intended ? c->free_since : c->intended));
    c->state = BUSY;
    c->sent = 0;
    c->have = 0;
    c->body_left = -1;
    send_rest(c);
}

// Parses the status line and Content-Length once the whole head is in buf.
// Returns 1 when the head was complete, 0 when more bytes are needed, -1 on garbage.
static int parse_head(struct conn *c) {
    char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
    if (!end) return c->have == sizeof c->buf ? -1 : 0;
    size_t head_len = (size_t)(end - c->buf) + 4;
    if (c->have < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0) return -1;
    c->status = atoi(c->buf + 9);
    int64_t length = -1;
    for (char *line = memchr(c->buf, '\n', head_len); line && line < end; line = memchr(line, '\n', (size_t)(end - line))) {
        line++;
        if (strncasecmp(line, "content-length:", 15) == 0) length = strtoll(line + 15, NULL, 10);
    }
    if (length < 0) {
        static int warned;
        if (!warned++) fprintf(stderr, "openloop: an answer without Content-Length (chunked?): counted as errors\n");
        return -1;
    }
    c->body_left = length - (int64_t)(c->have - head_len);
    return 1;
}

static void finish_request(struct conn *c, int64_t now) {
    record(&latency, now - c->intended);
    completed++;
    if (c->status < 200 || c->status > 299) errors++;
    c->state = IDLE;
    c->free_since = now;
    c->next_due += interval;
}

static void on_readable(struct conn *c) {
    for (;;) {
        char *dst = c->buf + c->have;
        size_t room = sizeof c->buf - c->have;
        char sink[65536];
        if (c->body_left >= 0) { dst = sink; room = sizeof sink; }  // body bytes are only counted
        ssize_t n = read(c->fd, dst, room);
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0 || c->state != BUSY) { reset_conn(c); return; }
        if (c->body_left >= 0) {
            c->body_left -= n;
        } else {
            c->have += (size_t)n;
            int r = parse_head(c);
            if (r < 0) { reset_conn(c); return; }
            if (r == 0) continue;
        }
        if (c->body_left == 0) {
            finish_request(c, now_ns());
            return;
        }
        if (c->body_left < 0) { reset_conn(c); return; }  // more bytes than announced
    }
}

static void usage(void) {
    fprintf(stderr, "usage: openloop -p PORT -r RATE [-c CONNS] [-d SECONDS] [-P PATH] [-H 'Name: value']...\n");
    exit(2);
}

int main(int argc, char **argv) {
    int port = 0, conns = 64, opt;
    double rate = 0, seconds = 10;
    const char *path = "/";
    char headers[4096] = "";
    while ((opt = getopt(argc, argv, "p:r:c:d:P:H:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'P': path = optarg; break;
        case 'H':
            if (strlen(headers) + strlen(optarg) + 3 > sizeof headers) usage();
            strcat(headers, optarg);
            strcat(headers, "\r\n");
            break;
        default: usage();
        }
    }
    if (port <= 0 || rate <= 0 || conns <= 0 || seconds <= 0) usage();
    request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n", path, port, headers);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    epfd = epoll_create1(0);
    struct conn *pool = calloc((size_t)conns, sizeof *pool);
    if (!pool) { perror("calloc"); return 1; }
    for (int i = 0; i < conns; i++) open_conn(&pool[i]);

    // Each connection carries every CONNS-th request of one global schedule at RATE.
    interval = (int64_t)(1e9 * conns / rate);
    int64_t start = now_ns() + 100000000;  // 100 ms for the connections to open
    int64_t stop_sending = start + (int64_t)(seconds * 1e9);
    int64_t give_up = stop_sending + 2000000000LL;
    for (int i = 0; i < conns; i++) pool[i].next_due = start + (int64_t)(1e9 * i / rate);

    struct epoll_event events[256];
    for (;;) {
        int64_t now = now_ns();
        int64_t wake = give_up;
        int busy = 0;
        for (int i = 0; i < conns; i++) {
            struct conn *c = &pool[i];
            if (c->state == IDLE && c->next_due < stop_sending) {
                if (c->next_due <= now) start_request(c, now);
                else if (c->next_due < wake) wake = c->next_due;
            }
            if (c->state == BUSY || (c->state == CONNECTING && c->next_due < stop_sending)) busy = 1;
        }
        if (now >= give_up || (now >= stop_sending && !busy)) break;
        int64_t wait = wake - now;
        if (wait < 0) wait = 0;
        struct timespec ts = {.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000};
        int n = epoll_pwait2(epfd, events, 256, &ts, NULL);
        if (n < 0 && errno != EINTR) { perror("epoll_pwait2"); return 1; }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->state == CONNECTING) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) { errors++; reset_conn(c); continue; }
                c->state = IDLE;
                c->free_since = now_ns();
                want_write(c, 0);
                continue;
            }
            if (c->state == BUSY && c->sent < request_len && (events[i].events & EPOLLOUT)) {
                send_rest(c);
                if (c->state == BUSY && c->sent == request_len) want_write(c, 0);
            }
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
        }
    }

    // Whatever was due and never answered counts with the time it had waited so far.
    int64_t end = now_ns();
    uint64_t incomplete = 0, scheduled = completed;
    for (int i = 0; i < conns; i++) {
        struct conn *c = &pool[i];
        int64_t due = c->state == BUSY ? c->intended : c->next_due;
        for (; due < stop_sending; due += interval) {
            record(&latency, end - due);
            incomplete++;
            scheduled++;
        }
    }
    qsort(latency.v, latency.n, sizeof *latency.v, cmp_u32);
    qsort(lag.v, lag.n, sizeof *lag.v, cmp_u32);
    printf("RESULT scheduled=%llu completed=%llu errors=%llu incomplete=%llu rps=%.1f p50_us=%u p99_us=%u p999_us=%u max_us=%u lag_p99_us=%u\n",
           (unsigned long long)scheduled, (unsigned long long)completed, (unsigned long long)errors,
           (unsigned long long)incomplete, (double)completed / seconds, percentile(&latency, 50),
           percentile(&latency, 99), percentile(&latency, 99.9), latency.n ? latency.v[latency.n - 1] : 0,
           percentile(&lag, 99));
    return 0;
}
