/*
 * telex.turn._native: the TURN relay's data path in C (ChannelData only, RFC 8656 §12).
 *
 * Why this is hand-written: relaying a datagram is a receive, a table lookup and a send, and in
 * Python each of those costs more than the kernel work it wraps (the interpreter, the socket
 * module's address conversions, the GIL around every call). No well-kept library relays TURN
 * ChannelData from Python: coturn and its peers are whole servers with their own control plane,
 * and no maintained Python binding offers recvmmsg/sendmmsg on many sockets. So this file does
 * the one thing a C loop is good at, on its own thread and without the GIL, and nothing else:
 *
 *   epoll ─► listener fd ─► recvmmsg ─► ChannelData from a known client on a bound channel
 *                                        ─► bandwidth bucket ─► sendmmsg on the relay fd ─► peer
 *        └─► relay fd ───► recvmmsg ─► from a permitted peer IP with a bound channel
 *                                        ─► bandwidth bucket ─► ChannelData header + payload
 *                                        ─► sendmmsg on the listener fd ─► client
 *        anything else (STUN, unknown client/channel, no permission, Data indications)
 *                       ─► bounded queue ─► eventfd ─► Python (telex.turn.native) as before
 *
 * The rules live in the sans-I/O core (telex.turn.core); Python mirrors their outcome into the
 * tables here (an allocation's relay fd and client, its permissions and channel bindings, its
 * bandwidth rate) and removes entries the moment the core drops them. A table entry that could
 * not be installed (tables full) only means that datagram goes to Python, which applies the
 * core's rules itself: this path can relay less than the core allows, never more.
 *
 * Safety: every length is checked against what was received; tables and the queue to Python
 * are bounded; receive buffers are allocated once; EAGAIN and EINTR are handled on every call;
 * all table access and all socket use happen under one mutex, so Python can remove an
 * allocation and then close its socket without the thread ever touching a reused fd number
 * (epoll events carry a generation and stale ones are ignored). stop() joins the thread.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32          /* datagrams per recvmmsg call */
#define POOL 64           /* receive buffers per round; full pool => flush the sends */
#define SLOT 65536        /* a UDP payload is at most 65,527 bytes */
#define MAX_EVENTS 128
#define MAX_LISTENERS 64
#define QUEUE_MAX_ITEMS 4096
#define QUEUE_MAX_BYTES (8u << 20)
#define TABLE_MIN 1024u

enum { K_CLIENT = 1, K_CHANNEL = 2, K_PEER = 3, K_PERM = 4 };
enum { EV_WAKE = 0, EV_LISTENER = 1, EV_RELAY = 2 };

typedef struct {
    uint8_t family; /* 4 or 6, 0 = unused */
    uint8_t pad;
    uint16_t port; /* host order */
    uint8_t ip[16];
} addr_t;

typedef struct {
    uint64_t owner; /* listener index (K_CLIENT) or allocation handle (generation and slot) */
    uint16_t kind;
    uint16_t num; /* channel number (K_CHANNEL) */
    addr_t addr;  /* client, peer, or peer IP with port 0 (K_PERM) */
} tkey_t;

typedef struct {
    tkey_t key;
    uint32_t used;
    uint32_t value; /* allocation slot (K_CLIENT) or channel number (K_PEER) */
    addr_t peer;    /* K_CHANNEL: the bound peer */
} entry_t;

typedef struct {
    entry_t *slots;
    uint32_t cap; /* power of two */
    uint32_t count;
    uint32_t max_count;
    uint64_t seed;
} table_t;

typedef struct {
    uint32_t gen;
    int in_use;
    int fd;
    int listener;
    addr_t client;
    struct sockaddr_storage client_sa;
    socklen_t client_salen;
    double rate, burst, tokens, tokens_at;
    uint64_t pk_peer, by_peer, pk_client, by_client, dropped;
    uint32_t next_free;
} alloc_t;

typedef struct item {
    struct item *next;
    int kind; /* 0 listener, 1 relay */
    uint64_t ident;
    addr_t from;
    uint32_t len;
    uint8_t data[];
} item_t;

typedef struct {
    int fd;
    uint32_t slot;
    int to_client;
    uint32_t len; /* payload bytes */
    uint8_t hdr[4];
    struct iovec iov[2];
    struct sockaddr_storage to;
    socklen_t tolen;
} out_t;

typedef struct {
    PyObject_HEAD
    pthread_mutex_t lock;
    pthread_t thread;
    int running;
    volatile int stopping;
    int epfd, wakefd, notifyfd;
    int listeners[MAX_LISTENERS];
    int nlisteners;
    table_t table;
    alloc_t *allocs;
    uint32_t nallocs, acap, max_allocs, free_head;
    int inited;
    /* queue to Python */
    item_t *qhead, *qtail;
    uint32_t qitems;
    size_t qbytes;
    int notified;
    /* totals */
    uint64_t pk_peer, by_peer, pk_client, by_client, dropped, send_errors, punted, punt_dropped;
    /* thread-only buffers */
    uint8_t *pool;
    struct mmsghdr rmsgs[BATCH];
    struct iovec riov[BATCH];
    struct sockaddr_storage rfrom[BATCH];
    out_t outs[POOL];
    int nouts;
    struct mmsghdr smsgs[POOL];
    int sidx[POOL];
} Relay;

#define NO_SLOT 0xFFFFFFFFu

/* ------------------------------------------------------------------ addresses */

static int addr_from_sa(const struct sockaddr_storage *sa, addr_t *out) {
    memset(out, 0, sizeof *out);
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        out->family = 4;
        out->port = ntohs(s4->sin_port);
        memcpy(out->ip, &s4->sin_addr, 4);
        return 0;
    }
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        if (s6->sin6_scope_id != 0)
            return -1; /* scoped addresses are named with their interface: leave them to Python */
        out->family = 6;
        out->port = ntohs(s6->sin6_port);
        memcpy(out->ip, &s6->sin6_addr, 16);
        return 0;
    }
    return -1;
}

static socklen_t sa_from_addr(const addr_t *a, struct sockaddr_storage *sa) {
    memset(sa, 0, sizeof *sa);
    if (a->family == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a->port);
        memcpy(&s4->sin_addr, a->ip, 4);
        return sizeof *s4;
    }
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a->port);
    memcpy(&s6->sin6_addr, a->ip, 16);
    return sizeof *s6;
}

static int parse_addr(const char *host, int port, addr_t *out) {
    memset(out, 0, sizeof *out);
    if (port < 0 || port > 65535)
        return -1;
    out->port = (uint16_t)port;
    if (inet_pton(AF_INET, host, out->ip) == 1) {
        out->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, out->ip) == 1) {
        out->family = 6;
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------------ hash table */

static uint64_t key_hash(const table_t *t, const tkey_t *k) {
    const uint8_t *p = (const uint8_t *)k;
    uint64_t h = 0xcbf29ce484222325ULL ^ t->seed;
    for (size_t i = 0; i < sizeof *k; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

static entry_t *table_find(const table_t *t, const tkey_t *k) {
    if (t->cap == 0)
        return NULL;
    uint32_t mask = t->cap - 1;
    uint32_t i = (uint32_t)key_hash(t, k) & mask;
    for (uint32_t n = 0; n < t->cap; n++, i = (i + 1) & mask) {
        entry_t *e = &t->slots[i];
        if (!e->used)
            return NULL;
        if (memcmp(&e->key, k, sizeof *k) == 0)
            return e;
    }
    return NULL;
}

static int table_grow(table_t *t) {
    uint32_t ncap = t->cap ? t->cap * 2 : TABLE_MIN;
    if (ncap < t->cap)
        return -1;
    entry_t *slots = calloc(ncap, sizeof *slots);
    if (slots == NULL)
        return -1;
    uint32_t mask = ncap - 1;
    for (uint32_t j = 0; j < t->cap; j++) {
        entry_t *e = &t->slots[j];
        if (!e->used)
            continue;
        uint32_t i = (uint32_t)key_hash(t, &e->key) & mask;
        while (slots[i].used)
            i = (i + 1) & mask;
        slots[i] = *e;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = ncap;
    return 0;
}

/* Insert or update; NULL when the table is at its bound (the caller leaves it to Python). */
static entry_t *table_put(table_t *t, const tkey_t *k) {
    entry_t *e = table_find(t, k);
    if (e != NULL)
        return e;
    if (t->count >= t->max_count)
        return NULL;
    if ((t->count + 1) * 2 > t->cap && table_grow(t) != 0)
        return NULL;
    uint32_t mask = t->cap - 1;
    uint32_t i = (uint32_t)key_hash(t, k) & mask;
    while (t->slots[i].used)
        i = (i + 1) & mask;
    e = &t->slots[i];
    memset(e, 0, sizeof *e);
    e->key = *k;
    e->used = 1;
    t->count++;
    return e;
}

/* Linear probing with backward-shift deletion: no tombstones, so probes stay short. */
static void table_del(table_t *t, const tkey_t *k) {
    entry_t *e = table_find(t, k);
    if (e == NULL)
        return;
    uint32_t mask = t->cap - 1;
    uint32_t i = (uint32_t)(e - t->slots);
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->slots[j].used)
            break;
        uint32_t home = (uint32_t)key_hash(t, &t->slots[j].key) & mask;
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        int in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].used = 0;
    t->count--;
}

static void make_key(tkey_t *k, uint16_t kind, uint64_t owner, uint16_t num, const addr_t *a) {
    memset(k, 0, sizeof *k);
    k->kind = kind;
    k->owner = owner;
    k->num = num;
    if (a != NULL)
        k->addr = *a;
}

/* ------------------------------------------------------------------ helpers */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The core's bandwidth bucket (telex.turn.allocation.Allocation.charge), same arithmetic. */
static int charge(alloc_t *a, uint32_t size, double now) {
    if (a->rate <= 0)
        return 1;
    double tokens = a->tokens + (now - a->tokens_at) * a->rate;
    if (tokens > a->burst)
        tokens = a->burst;
    a->tokens_at = now;
    if (tokens < (double)size) {
        a->tokens = tokens;
        return 0;
    }
    a->tokens = tokens - (double)size;
    return 1;
}

static alloc_t *alloc_get(Relay *r, uint64_t handle) {
    uint32_t slot = (uint32_t)(handle & 0xFFFFFFFFu);
    uint32_t gen = (uint32_t)(handle >> 32);
    if (slot >= r->nallocs)
        return NULL;
    alloc_t *a = &r->allocs[slot];
    if (!a->in_use || a->gen != gen)
        return NULL;
    return a;
}

static void signal_fd(int fd) {
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(fd, &one, sizeof one);
        if (n >= 0 || errno != EINTR)
            return; /* EAGAIN: the counter is already non-zero, which is all we need */
    }
}

static void punt(Relay *r, int kind, uint64_t ident, const addr_t *from, const uint8_t *data, uint32_t len) {
    if (r->qitems >= QUEUE_MAX_ITEMS || r->qbytes + len > QUEUE_MAX_BYTES) {
        r->punt_dropped++;
        return;
    }
    item_t *it = malloc(sizeof *it + len);
    if (it == NULL) {
        r->punt_dropped++;
        return;
    }
    it->next = NULL;
    it->kind = kind;
    it->ident = ident;
    it->from = *from;
    it->len = len;
    memcpy(it->data, data, len);
    if (r->qtail)
        r->qtail->next = it;
    else
        r->qhead = it;
    r->qtail = it;
    r->qitems++;
    r->qbytes += len;
    r->punted++;
    if (!r->notified) {
        r->notified = 1;
        signal_fd(r->notifyfd);
    }
}

/* ------------------------------------------------------------------ the thread */

static void flush(Relay *r) {
    int n = r->nouts;
    int done[POOL];
    memset(done, 0, sizeof done);
    for (int i = 0; i < n; i++) {
        if (done[i])
            continue;
        int fd = r->outs[i].fd, cnt = 0;
        /* Same-fd messages in their order: one sendmmsg for all of them. */
        for (int j = i; j < n; j++) {
            if (done[j] || r->outs[j].fd != fd)
                continue;
            done[j] = 1;
            out_t *o = &r->outs[j];
            struct msghdr *m = &r->smsgs[cnt].msg_hdr;
            memset(m, 0, sizeof *m);
            m->msg_name = &o->to;
            m->msg_namelen = o->tolen;
            m->msg_iov = o->to_client ? o->iov : &o->iov[1];
            m->msg_iovlen = o->to_client ? 2 : 1;
            r->sidx[cnt++] = j;
        }
        int k = 0;
        while (k < cnt) {
            int sent = sendmmsg(fd, &r->smsgs[k], (unsigned)(cnt - k), MSG_DONTWAIT);
            if (sent < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    r->dropped += (uint64_t)(cnt - k); /* a full socket buffer drops, as UDP does */
                    break;
                }
                r->send_errors++; /* e.g. an ICMP error surfaced on the socket: skip that one */
                k++;
                continue;
            }
            for (int s = k; s < k + sent; s++) {
                out_t *o = &r->outs[r->sidx[s]];
                alloc_t *a = &r->allocs[o->slot];
                if (o->to_client) {
                    r->pk_client++;
                    r->by_client += o->len;
                    a->pk_client++;
                    a->by_client += o->len;
                } else {
                    r->pk_peer++;
                    r->by_peer += o->len;
                    a->pk_peer++;
                    a->by_peer += o->len;
                }
            }
            k += sent;
        }
    }
    r->nouts = 0;
}

static void from_client(Relay *r, int li, uint8_t *buf, uint32_t len, const addr_t *from, double now) {
    if (len >= 4 && buf[0] >= 0x40 && buf[0] <= 0x7F) {
        tkey_t k;
        make_key(&k, K_CLIENT, (uint32_t)li, 0, from);
        entry_t *ce = table_find(&r->table, &k);
        if (ce != NULL) {
            alloc_t *a = &r->allocs[ce->value];
            uint32_t plen = ((uint32_t)buf[2] << 8) | buf[3];
            if (4 + plen > len) {
                a->dropped++; /* a length beyond the datagram (RFC 8656 §12.5) */
                r->dropped++;
                return;
            }
            uint16_t num = (uint16_t)(((uint32_t)buf[0] << 8) | buf[1]);
            make_key(&k, K_CHANNEL, ((uint64_t)a->gen << 32) | ce->value, num, NULL);
            entry_t *ch = table_find(&r->table, &k);
            if (ch != NULL) {
                if (!charge(a, plen, now)) {
                    a->dropped++;
                    r->dropped++;
                    return;
                }
                out_t *o = &r->outs[r->nouts++];
                o->fd = a->fd;
                o->slot = ce->value;
                o->to_client = 0;
                o->len = plen;
                o->iov[1].iov_base = buf + 4;
                o->iov[1].iov_len = plen;
                o->tolen = sa_from_addr(&ch->peer, &o->to);
                return;
            }
        }
    }
    punt(r, 0, (uint64_t)li, from, buf, len);
}

static void from_peer(Relay *r, uint64_t handle, uint32_t slot, uint8_t *buf, uint32_t len,
                      const addr_t *from, double now) {
    alloc_t *a = &r->allocs[slot];
    tkey_t k;
    addr_t ip = *from;
    ip.port = 0;
    make_key(&k, K_PERM, handle, 0, &ip);
    if (table_find(&r->table, &k) != NULL && len <= 0xFFFF) {
        make_key(&k, K_PEER, handle, 0, from);
        entry_t *pe = table_find(&r->table, &k);
        if (pe != NULL) {
            if (!charge(a, len, now)) {
                a->dropped++;
                r->dropped++;
                return;
            }
            out_t *o = &r->outs[r->nouts++];
            o->fd = r->listeners[a->listener];
            o->slot = slot;
            o->to_client = 1;
            o->len = len;
            o->hdr[0] = (uint8_t)(pe->value >> 8);
            o->hdr[1] = (uint8_t)pe->value;
            o->hdr[2] = (uint8_t)(len >> 8);
            o->hdr[3] = (uint8_t)len;
            o->iov[0].iov_base = o->hdr;
            o->iov[0].iov_len = 4;
            o->iov[1].iov_base = buf;
            o->iov[1].iov_len = len;
            memcpy(&o->to, &a->client_sa, sizeof o->to);
            o->tolen = a->client_salen;
            return;
        }
    }
    punt(r, 1, handle, from, buf, len); /* no permission, or a Data indication: Python decides */
}

/* One recvmmsg on fd into the free part of the pool; 0 on success, -1 when nothing was read. */
static int read_batch(Relay *r, int fd, int *used, uint64_t data, double now) {
    int room = POOL - *used;
    if (room > BATCH)
        room = BATCH;
    if (room <= 0)
        return -1;
    for (int i = 0; i < room; i++) {
        r->riov[i].iov_base = r->pool + (size_t)(*used + i) * SLOT;
        r->riov[i].iov_len = SLOT;
        memset(&r->rmsgs[i].msg_hdr, 0, sizeof r->rmsgs[i].msg_hdr);
        r->rmsgs[i].msg_hdr.msg_iov = &r->riov[i];
        r->rmsgs[i].msg_hdr.msg_iovlen = 1;
        r->rmsgs[i].msg_hdr.msg_name = &r->rfrom[i];
        r->rmsgs[i].msg_hdr.msg_namelen = sizeof r->rfrom[i];
    }
    int n;
    do {
        n = recvmmsg(fd, r->rmsgs, (unsigned)room, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1; /* EAGAIN, or an ICMP error surfaced on the socket */
    *used += n;
    int type = (int)(data >> 62);
    uint32_t slot = (uint32_t)(data & 0xFFFFFFFFu);
    uint64_t handle = ((data >> 32) & 0x3FFFFFFFu) << 32 | slot;
    for (int i = 0; i < n; i++) {
        struct msghdr *m = &r->rmsgs[i].msg_hdr;
        uint32_t len = r->rmsgs[i].msg_len;
        addr_t from;
        if ((m->msg_flags & MSG_TRUNC) || len > SLOT || addr_from_sa(&r->rfrom[i], &from) != 0) {
            r->dropped++;
            continue;
        }
        uint8_t *buf = (uint8_t *)r->riov[i].iov_base;
        if (type == EV_LISTENER)
            from_client(r, (int)slot, buf, len, &from, now);
        else
            from_peer(r, handle, slot, buf, len, &from, now);
    }
    return 0;
}

static void *run(void *arg) {
    Relay *r = (Relay *)arg;
    struct epoll_event events[MAX_EVENTS];
    while (!r->stopping) {
        int n = epoll_wait(r->epfd, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        pthread_mutex_lock(&r->lock);
        double now = now_seconds();
        int used = 0;
        for (int i = 0; i < n && !r->stopping; i++) {
            uint64_t data = events[i].data.u64;
            int type = (int)(data >> 62);
            uint32_t slot = (uint32_t)(data & 0xFFFFFFFFu);
            int fd;
            if (type == EV_WAKE) {
                uint64_t value;
                ssize_t got;
                do {
                    got = read(r->wakefd, &value, sizeof value);
                } while (got < 0 && errno == EINTR);
                continue;
            }
            if (type == EV_LISTENER) {
                if ((int)slot >= r->nlisteners || r->listeners[slot] < 0)
                    continue;
                fd = r->listeners[slot];
            } else {
                uint32_t gen = (uint32_t)((data >> 32) & 0x3FFFFFFFu);
                if (slot >= r->nallocs || !r->allocs[slot].in_use || (r->allocs[slot].gen & 0x3FFFFFFFu) != gen)
                    continue; /* removed since epoll_wait returned: its fd may be another socket now */
                fd = r->allocs[slot].fd;
            }
            if (POOL - used < BATCH) {
                flush(r); /* the sends point into the pool: send them before reusing it */
                used = 0;
            }
            read_batch(r, fd, &used, data, now);
        }
        flush(r);
        pthread_mutex_unlock(&r->lock);
    }
    return NULL;
}

/* ------------------------------------------------------------------ Python type */

static int Relay_init(Relay *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"seed", "max_allocations", "max_entries", NULL};
    Py_buffer seed;
    unsigned int max_allocs, max_entries;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*II", kwlist, &seed, &max_allocs, &max_entries))
        return -1;
    if (self->inited) {
        PyBuffer_Release(&seed);
        PyErr_SetString(PyExc_RuntimeError, "already initialised");
        return -1;
    }
    uint64_t s = 0;
    memcpy(&s, seed.buf, seed.len < 8 ? (size_t)seed.len : 8);
    PyBuffer_Release(&seed);
    if (max_allocs == 0 || max_allocs > (1u << 24) || max_entries == 0 || max_entries > (1u << 24)) {
        PyErr_SetString(PyExc_ValueError, "max_allocations and max_entries must be in 1..2**24");
        return -1;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->inited = 1;
    self->table.seed = s;
    self->table.max_count = max_entries;
    self->max_allocs = max_allocs;
    self->free_head = NO_SLOT;
    for (int i = 0; i < MAX_LISTENERS; i++)
        self->listeners[i] = -1;
    self->pool = malloc((size_t)POOL * SLOT);
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    self->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->notifyfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->pool == NULL || self->epfd < 0 || self->wakefd < 0 || self->notifyfd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)EV_WAKE << 62};
    if (epoll_ctl(self->epfd, EPOLL_CTL_ADD, self->wakefd, &ev) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

static void stop_thread(Relay *self) {
    if (!self->running)
        return;
    self->stopping = 1;
    signal_fd(self->wakefd);
    Py_BEGIN_ALLOW_THREADS
    pthread_join(self->thread, NULL);
    Py_END_ALLOW_THREADS
    self->running = 0;
}

static void Relay_dealloc(Relay *self) {
    stop_thread(self);
    item_t *it = self->qhead;
    while (it) {
        item_t *next = it->next;
        free(it);
        it = next;
    }
    free(self->table.slots);
    free(self->allocs);
    free(self->pool);
    if (self->epfd > 0)
        close(self->epfd);
    if (self->wakefd > 0)
        close(self->wakefd);
    if (self->notifyfd > 0)
        close(self->notifyfd);
    if (self->inited)
        pthread_mutex_destroy(&self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_ready(Relay *self) {
    if (self->epfd <= 0 || self->pool == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Relay not initialised");
        return -1;
    }
    return 0;
}

/* Take the lock with the GIL released: the thread may hold it for one round of sends. */
static void lock(Relay *self) {
    if (pthread_mutex_trylock(&self->lock) == 0)
        return;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->lock);
    Py_END_ALLOW_THREADS
}

static PyObject *Relay_start(Relay *self, PyObject *Py_UNUSED(unused)) {
    if (check_ready(self) < 0)
        return NULL;
    if (self->running)
        Py_RETURN_NONE;
    if (self->stopping) {
        PyErr_SetString(PyExc_RuntimeError, "a stopped Relay cannot start again");
        return NULL;
    }
    int err = pthread_create(&self->thread, NULL, run, self);
    if (err != 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    self->running = 1;
    Py_RETURN_NONE;
}

static PyObject *Relay_stop(Relay *self, PyObject *Py_UNUSED(unused)) {
    stop_thread(self);
    self->stopping = 1;
    Py_RETURN_NONE;
}

static PyObject *Relay_notify_fd(Relay *self, PyObject *Py_UNUSED(unused)) {
    if (check_ready(self) < 0)
        return NULL;
    return PyLong_FromLong(self->notifyfd);
}

static PyObject *Relay_add_listener(Relay *self, PyObject *args) {
    int fd;
    if (!PyArg_ParseTuple(args, "i", &fd) || check_ready(self) < 0)
        return NULL;
    if (fd < 0) {
        PyErr_SetString(PyExc_ValueError, "bad fd");
        return NULL;
    }
    lock(self);
    if (self->nlisteners >= MAX_LISTENERS) {
        pthread_mutex_unlock(&self->lock);
        PyErr_SetString(PyExc_ValueError, "too many listeners");
        return NULL;
    }
    int li = self->nlisteners;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)EV_LISTENER << 62) | (uint32_t)li};
    if (epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        pthread_mutex_unlock(&self->lock);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    self->listeners[li] = fd;
    self->nlisteners++;
    pthread_mutex_unlock(&self->lock);
    return PyLong_FromLong(li);
}

static PyObject *Relay_add_allocation(Relay *self, PyObject *args) {
    int fd, listener, port;
    const char *host;
    double rate, burst;
    if (!PyArg_ParseTuple(args, "iisidd", &fd, &listener, &host, &port, &rate, &burst) || check_ready(self) < 0)
        return NULL;
    addr_t client;
    if (fd < 0 || parse_addr(host, port, &client) != 0)
        Py_RETURN_NONE;
    lock(self);
    if (listener < 0 || listener >= self->nlisteners) {
        pthread_mutex_unlock(&self->lock);
        PyErr_SetString(PyExc_ValueError, "unknown listener");
        return NULL;
    }
    uint32_t slot;
    if (self->free_head != NO_SLOT) {
        slot = self->free_head;
        self->free_head = self->allocs[slot].next_free;
    } else if (self->nallocs < self->max_allocs) {
        if (self->nallocs == self->acap) {
            uint32_t cap = self->acap ? self->acap * 2 : 16;
            if (cap > self->max_allocs)
                cap = self->max_allocs;
            alloc_t *grown = realloc(self->allocs, (size_t)cap * sizeof *grown);
            if (grown == NULL) {
                pthread_mutex_unlock(&self->lock);
                Py_RETURN_NONE;
            }
            self->allocs = grown;
            self->acap = cap;
        }
        slot = self->nallocs++;
        self->allocs[slot].gen = 0;
    } else {
        pthread_mutex_unlock(&self->lock);
        Py_RETURN_NONE; /* full: this allocation stays on the Python path */
    }
    alloc_t *a = &self->allocs[slot];
    uint32_t gen = (a->gen + 1) & 0x3FFFFFFFu;
    memset(a, 0, sizeof *a);
    a->gen = gen;
    a->fd = fd;
    a->listener = listener;
    a->client = client;
    a->client_salen = sa_from_addr(&client, &a->client_sa);
    a->rate = rate;
    a->burst = burst;
    a->tokens = burst;
    a->tokens_at = now_seconds();
    tkey_t k;
    make_key(&k, K_CLIENT, (uint32_t)listener, 0, &client);
    entry_t *e = table_put(&self->table, &k);
    struct epoll_event ev = {.events = EPOLLIN,
                             .data.u64 = ((uint64_t)EV_RELAY << 62) | ((uint64_t)gen << 32) | slot};
    if (e == NULL || epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        if (e != NULL)
            table_del(&self->table, &k);
        a->next_free = self->free_head;
        self->free_head = slot;
        pthread_mutex_unlock(&self->lock);
        Py_RETURN_NONE;
    }
    e->value = slot;
    a->in_use = 1;
    pthread_mutex_unlock(&self->lock);
    return PyLong_FromUnsignedLongLong(((uint64_t)gen << 32) | slot);
}

static PyObject *Relay_remove_allocation(Relay *self, PyObject *args) {
    unsigned long long handle;
    if (!PyArg_ParseTuple(args, "K", &handle) || check_ready(self) < 0)
        return NULL;
    lock(self);
    alloc_t *a = alloc_get(self, handle);
    if (a != NULL) {
        uint32_t slot = (uint32_t)(handle & 0xFFFFFFFFu);
        epoll_ctl(self->epfd, EPOLL_CTL_DEL, a->fd, NULL);
        tkey_t k;
        make_key(&k, K_CLIENT, (uint32_t)a->listener, 0, &a->client);
        entry_t *e = table_find(&self->table, &k);
        if (e != NULL && e->value == slot)
            table_del(&self->table, &k);
        a->in_use = 0;
        a->fd = -1;
        a->next_free = self->free_head;
        self->free_head = slot;
    }
    pthread_mutex_unlock(&self->lock);
    Py_RETURN_NONE;
}

/* permit(handle, host, on) / bind(handle, number, host, port, on): install or remove. */
static PyObject *Relay_permit(Relay *self, PyObject *args) {
    unsigned long long handle;
    const char *host;
    int on;
    if (!PyArg_ParseTuple(args, "Ksp", &handle, &host, &on) || check_ready(self) < 0)
        return NULL;
    addr_t ip;
    if (parse_addr(host, 0, &ip) != 0)
        Py_RETURN_FALSE;
    int ok = 0;
    lock(self);
    alloc_t *a = alloc_get(self, handle);
    if (a != NULL) {
        tkey_t k;
        make_key(&k, K_PERM, handle, 0, &ip);
        if (on) {
            ok = table_put(&self->table, &k) != NULL;
        } else {
            table_del(&self->table, &k);
            ok = 1;
        }
    }
    pthread_mutex_unlock(&self->lock);
    return PyBool_FromLong(ok);
}

static PyObject *Relay_bind(Relay *self, PyObject *args) {
    unsigned long long handle;
    int number, port, on;
    const char *host;
    if (!PyArg_ParseTuple(args, "Kisip", &handle, &number, &host, &port, &on) || check_ready(self) < 0)
        return NULL;
    addr_t peer;
    if (number < 0x4000 || number > 0x7FFF || parse_addr(host, port, &peer) != 0)
        Py_RETURN_FALSE;
    int ok = 0;
    lock(self);
    alloc_t *a = alloc_get(self, handle);
    if (a != NULL) {
        tkey_t kc, kp;
        make_key(&kc, K_CHANNEL, handle, (uint16_t)number, NULL);
        make_key(&kp, K_PEER, handle, 0, &peer);
        if (on) {
            entry_t *c = table_put(&self->table, &kc);
            entry_t *p = c != NULL ? table_put(&self->table, &kp) : NULL;
            if (c != NULL && p != NULL) {
                c = table_find(&self->table, &kc); /* the second put may have grown the table */
                c->peer = peer;
                p->value = (uint32_t)number;
                ok = 1;
            } else if (c != NULL) {
                table_del(&self->table, &kc);
            }
        } else {
            table_del(&self->table, &kc);
            table_del(&self->table, &kp);
            ok = 1;
        }
    }
    pthread_mutex_unlock(&self->lock);
    return PyBool_FromLong(ok);
}

static PyObject *Relay_charge(Relay *self, PyObject *args) {
    unsigned long long handle;
    unsigned int size;
    if (!PyArg_ParseTuple(args, "KI", &handle, &size) || check_ready(self) < 0)
        return NULL;
    int ok = 1;
    lock(self);
    alloc_t *a = alloc_get(self, handle);
    if (a != NULL)
        ok = charge(a, size, now_seconds());
    pthread_mutex_unlock(&self->lock);
    return PyBool_FromLong(ok);
}

static PyObject *Relay_counters(Relay *self, PyObject *args) {
    unsigned long long handle;
    if (!PyArg_ParseTuple(args, "K", &handle) || check_ready(self) < 0)
        return NULL;
    uint64_t v[5] = {0, 0, 0, 0, 0};
    lock(self);
    alloc_t *a = alloc_get(self, handle);
    if (a != NULL) {
        v[0] = a->pk_peer;
        v[1] = a->by_peer;
        v[2] = a->pk_client;
        v[3] = a->by_client;
        v[4] = a->dropped;
    }
    pthread_mutex_unlock(&self->lock);
    return Py_BuildValue("(KKKKK)", v[0], v[1], v[2], v[3], v[4]);
}

static PyObject *Relay_totals(Relay *self, PyObject *Py_UNUSED(unused)) {
    if (check_ready(self) < 0)
        return NULL;
    lock(self);
    PyObject *out = Py_BuildValue("(KKKKKKKK)", self->pk_peer, self->by_peer, self->pk_client, self->by_client,
                                  self->dropped, self->send_errors, self->punted, self->punt_dropped);
    pthread_mutex_unlock(&self->lock);
    return out;
}

static PyObject *host_text(const addr_t *a) {
    char text[INET6_ADDRSTRLEN];
    if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->ip, text, sizeof text) == NULL)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyUnicode_FromString(text);
}

/* Everything queued for Python: [(kind, ident, host, port, data)], kind 0 = listener, 1 = relay. */
static PyObject *Relay_drain(Relay *self, PyObject *Py_UNUSED(unused)) {
    if (check_ready(self) < 0)
        return NULL;
    uint64_t value;
    ssize_t got;
    do {
        got = read(self->notifyfd, &value, sizeof value);
    } while (got < 0 && errno == EINTR);
    lock(self);
    item_t *it = self->qhead;
    self->qhead = self->qtail = NULL;
    self->qitems = 0;
    self->qbytes = 0;
    self->notified = 0;
    pthread_mutex_unlock(&self->lock);
    PyObject *list = PyList_New(0);
    while (it != NULL) {
        item_t *next = it->next;
        if (list != NULL) {
            PyObject *host = host_text(&it->from);
            PyObject *tuple = host == NULL ? NULL
                                           : Py_BuildValue("(iKNiy#)", it->kind, (unsigned long long)it->ident, host,
                                                           (int)it->from.port, (const char *)it->data,
                                                           (Py_ssize_t)it->len);
            if (tuple == NULL || PyList_Append(list, tuple) != 0) {
                Py_CLEAR(list);
            }
            Py_XDECREF(tuple);
        }
        free(it);
        it = next;
    }
    return list;
}

static PyMethodDef Relay_methods[] = {
    {"start", (PyCFunction)Relay_start, METH_NOARGS, "Start the relay thread."},
    {"stop", (PyCFunction)Relay_stop, METH_NOARGS, "Stop and join the relay thread (idempotent)."},
    {"notify_fd", (PyCFunction)Relay_notify_fd, METH_NOARGS, "The eventfd readable when drain() has work."},
    {"add_listener", (PyCFunction)Relay_add_listener, METH_VARARGS, "Read a client-facing UDP socket."},
    {"add_allocation", (PyCFunction)Relay_add_allocation, METH_VARARGS,
     "add_allocation(relay_fd, listener, client_host, client_port, rate, burst) -> handle or None."},
    {"remove_allocation", (PyCFunction)Relay_remove_allocation, METH_VARARGS, "Forget an allocation."},
    {"permit", (PyCFunction)Relay_permit, METH_VARARGS, "permit(handle, peer_ip, on) -> bool."},
    {"bind", (PyCFunction)Relay_bind, METH_VARARGS, "bind(handle, number, host, port, on) -> bool."},
    {"charge", (PyCFunction)Relay_charge, METH_VARARGS, "Spend bytes of an allocation's bucket."},
    {"counters", (PyCFunction)Relay_counters, METH_VARARGS, "An allocation's relayed packets/bytes, drops."},
    {"totals", (PyCFunction)Relay_totals, METH_NOARGS, "Relay-wide counters."},
    {"drain", (PyCFunction)Relay_drain, METH_NOARGS, "Datagrams left to Python."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RelayType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "telex.turn._native.Relay",
    .tp_basicsize = sizeof(Relay),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The TURN ChannelData data path on its own thread.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Relay_init,
    .tp_dealloc = (destructor)Relay_dealloc,
    .tp_methods = Relay_methods,
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "_native", "TURN ChannelData relay in C (see telex.turn.native).", -1,
    NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&RelayType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&RelayType);
    if (PyModule_AddObject(m, "Relay", (PyObject *)&RelayType) < 0) {
        Py_DECREF(&RelayType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
