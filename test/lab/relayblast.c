// relayblast: a load generator for the TURN relay's data plane, compiled at bench time
// (bench/relay-throughput.ts) and run inside lab network namespaces.
//
//   relayblast recv IP BASE_PORT N
//     Binds N UDP sockets IP:BASE_PORT..BASE_PORT+N-1 (the peers), prints "ready". "stat ID"
//     on stdin starts counting probe ID (payloads carry it: stragglers of an earlier probe
//     never count) or prints "recv=<packets> p50=<us> p99=<us>" of it so far (latency =
//     receive time - the send time stamped in the payload).
//
//   relayblast send SERVER_IP SERVER_PORT PEER_IP PEER_BASE_PORT N
//     Reads N "username password" lines (none when SERVER_PORT is 0: direct mode only) on stdin, makes N TURN allocations (one UDP socket
//     each, long-term credentials as the credential service mints them) and binds channel
//     0x4000 of allocation i to PEER_IP:PEER_BASE_PORT+i; prints "ready RELAYED..." then
//     runs commands from stdin:
//       blast PPS SECONDS SIZE ID   ChannelData of SIZE payload bytes, round-robin over the
//                           allocations, paced to PPS; prints "sent=<packets> us=<elapsed>"
//       direct PPS SECONDS SIZE ID  the same payloads straight to the peers (no relay): the baseline
//       quit                releases every allocation (Refresh lifetime 0) and exits
//
// It owns the sockets the allocations are bound to (a TURN allocation belongs to its client's
// 5-tuple), paces with sendmmsg batches and receives with recvmmsg, so one core outruns
// turnserver on another; turnutils_uclient paces per packet and falls behind.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x2112A442u
#define BATCH 32
#define MAX_US 2000000

static void die(const char *what) {
  fprintf(stderr, "relayblast: %s: %s\n", what, errno ? strerror(errno) : "failed");
  exit(2);
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int udp_socket(const char *ip, int port) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (s < 0) die("socket");
  int big = 8 << 20;
  setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, ip, &a.sin_addr);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  return s;
}

/* ---------------------------------------------------------------- receiver (the peers) */

static uint32_t *hist; /* microseconds of latency -> packets of the current probe */
static uint64_t probe_id, count;

/* Counts and latencies of probe `id` so far; a new id starts from zero. */
static void stat(uint64_t id) {
  if (id != probe_id) {
    probe_id = id;
    count = 0;
    memset(hist, 0, sizeof(uint32_t) * MAX_US);
  }
  uint64_t need50 = count / 2, need99 = count - count / 100, seen = 0;
  long p50 = -1, p99 = -1;
  for (long us = 0; us < MAX_US && count; us++) {
    seen += hist[us];
    if (p50 < 0 && seen > need50) p50 = us;
    if (p99 < 0 && seen >= need99 && seen > 0) p99 = us;
  }
  printf("recv=%llu p50=%ld p99=%ld\n", (unsigned long long)count, p50, p99);
  fflush(stdout);
}

static int run_recv(const char *ip, int base, int n) {
  hist = calloc(MAX_US, sizeof(uint32_t));
  int ep = epoll_create1(0);
  for (int i = 0; i < n; i++) {
    int s = udp_socket(ip, base + i);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
  }
  struct epoll_event in = {.events = EPOLLIN, .data.fd = 0};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
  printf("ready\n");
  fflush(stdout);
  static char bufs[BATCH][2048];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  char line[256];
  size_t linelen = 0;
  for (;;) {
    struct epoll_event evs[64];
    int k = epoll_wait(ep, evs, 64, 1000);
    for (int e = 0; e < k; e++) {
      int fd = evs[e].data.fd;
      if (fd == 0) {
        ssize_t r = read(0, line + linelen, sizeof line - linelen - 1);
        if (r <= 0) return 0;
        linelen += (size_t)r;
        line[linelen] = 0;
        char *nl;
        while ((nl = strchr(line, '\n'))) {
          if (!strncmp(line, "stat ", 5)) stat(strtoull(line + 5, NULL, 10));
          memmove(line, nl + 1, strlen(nl + 1) + 1);
          linelen = strlen(line);
        }
        continue;
      }
      for (;;) {
        for (int j = 0; j < BATCH; j++) {
          iov[j] = (struct iovec){bufs[j], sizeof bufs[j]};
          msgs[j].msg_hdr = (struct msghdr){.msg_iov = &iov[j], .msg_iovlen = 1};
        }
        int got = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0) break;
        uint64_t t = now_ns();
        for (int j = 0; j < got; j++) {
          if (msgs[j].msg_len < 16) continue;
          uint64_t sent, id;
          memcpy(&sent, bufs[j], 8);
          memcpy(&id, bufs[j] + 8, 8);
          if (id != probe_id) continue; /* a straggler of an earlier probe, or too early */
          uint64_t us = t > sent ? (t - sent) / 1000 : 0;
          hist[us < MAX_US ? us : MAX_US - 1]++;
          count++;
        }
        if (got < BATCH) break;
      }
    }
  }
}

/* ---------------------------------------------------------------- STUN / TURN client */

struct msg {
  uint8_t b[1024];
  size_t len;
};

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8, p[1] = v & 0xff; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16), put16(p + 2, v & 0xffff); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void header(struct msg *m, uint16_t type) {
  memset(m->b, 0, 20);
  put16(m->b, type);
  put32(m->b + 4, MAGIC);
  for (int i = 8; i < 20; i++) m->b[i] = (uint8_t)rand();
  m->len = 20;
}

static void attr(struct msg *m, uint16_t type, const void *v, size_t n) {
  put16(m->b + m->len, type);
  put16(m->b + m->len + 2, (uint16_t)n);
  memcpy(m->b + m->len + 4, v, n);
  size_t padded = (n + 3) & ~3u;
  memset(m->b + m->len + 4 + n, 0, padded - n);
  m->len += 4 + padded;
  put16(m->b + 2, (uint16_t)(m->len - 20));
}

static void integrity(struct msg *m, const uint8_t key[16]) {
  put16(m->b + 2, (uint16_t)(m->len - 20 + 24));
  unsigned int n = 20;
  uint8_t mac[20];
  HMAC(EVP_sha1(), key, 16, m->b, m->len, mac, &n);
  attr(m, 0x0008, mac, 20);
}

/* Finds attribute `type` in a response; returns its value and length. */
static const uint8_t *find(const uint8_t *b, size_t len, uint16_t type, uint16_t *n) {
  for (size_t p = 20; p + 4 <= len;) {
    uint16_t t = get16(b + p), l = get16(b + p + 2);
    if (t == type) {
      *n = l;
      return b + p + 4;
    }
    p += 4 + ((l + 3u) & ~3u);
  }
  return NULL;
}

static size_t transact(int s, const struct sockaddr_in *to, struct msg *m, uint8_t *resp) {
  for (int attempt = 0; attempt < 10; attempt++) {
    sendto(s, m->b, m->len, 0, (const struct sockaddr *)to, sizeof *to);
    struct pollfd p = {.fd = s, .events = POLLIN};
    uint64_t until = now_ns() + 500000000ull;
    while (now_ns() < until && poll(&p, 1, 100) >= 0) {
      ssize_t r = recv(s, resp, 1500, MSG_DONTWAIT);
      if (r >= 20 && !memcmp(resp + 8, m->b + 8, 12)) return (size_t)r;
    }
  }
  errno = 0;
  die("no answer from the TURN server");
  return 0;
}

struct alloc {
  int s;
  char user[256], pass[256], realm[256], nonce[256];
  uint8_t key[16];
  struct sockaddr_in relayed;
};

static void sign(struct alloc *a, struct msg *m) {
  attr(m, 0x0006, a->user, strlen(a->user));
  attr(m, 0x0014, a->realm, strlen(a->realm));
  attr(m, 0x0015, a->nonce, strlen(a->nonce));
  integrity(m, a->key);
}

static int error_code(const uint8_t *r, size_t n) {
  uint16_t l;
  const uint8_t *e = find(r, n, 0x0009, &l);
  return e && l >= 4 ? e[2] * 100 + e[3] : 0;
}

static void turn_allocate(struct alloc *a, const struct sockaddr_in *server) {
  uint8_t r[1500];
  struct msg m;
  const uint8_t udp[4] = {17, 0, 0, 0};
  header(&m, 0x0003);
  attr(&m, 0x0019, udp, 4);
  size_t n = transact(a->s, server, &m, r);
  uint16_t l;
  const uint8_t *v = find(r, n, 0x0014, &l);
  if (!v) {
    fprintf(stderr, "relayblast: Allocate answered %#06x, error %d, no REALM\n", get16(r),
            error_code(r, n));
    exit(3);
  }
  memcpy(a->realm, v, l), a->realm[l] = 0;
  v = find(r, n, 0x0015, &l);
  if (!v) die("the 401 challenge has no NONCE");
  memcpy(a->nonce, v, l), a->nonce[l] = 0;
  char keysrc[800];
  snprintf(keysrc, sizeof keysrc, "%s:%s:%s", a->user, a->realm, a->pass);
  unsigned int kl = 16;
  EVP_Digest(keysrc, strlen(keysrc), a->key, &kl, EVP_md5(), NULL);
  header(&m, 0x0003);
  attr(&m, 0x0019, udp, 4);
  sign(a, &m);
  n = transact(a->s, server, &m, r);
  if (get16(r) != 0x0103) {
    fprintf(stderr, "relayblast: Allocate refused with %d\n", error_code(r, n));
    exit(3);
  }
  v = find(r, n, 0x0016, &l); /* XOR-RELAYED-ADDRESS */
  if (!v || l < 8) die("no XOR-RELAYED-ADDRESS");
  a->relayed.sin_family = AF_INET;
  a->relayed.sin_port = htons(get16(v + 2) ^ (MAGIC >> 16));
  uint32_t ip;
  memcpy(&ip, v + 4, 4);
  a->relayed.sin_addr.s_addr = ip ^ htonl(MAGIC);
}

/* Returns 0, or the error code the server answered with when `soft`; exits otherwise. */
static int turn_channel_bind(struct alloc *a, const struct sockaddr_in *server,
                             const struct sockaddr_in *peer, int soft) {
  uint8_t r[1500], ch[4] = {0x40, 0x00, 0, 0}, xp[8] = {0, 1};
  struct msg m;
  put16(xp + 2, ntohs(peer->sin_port) ^ (MAGIC >> 16));
  uint32_t ip = peer->sin_addr.s_addr ^ htonl(MAGIC);
  memcpy(xp + 4, &ip, 4);
  header(&m, 0x0009);
  attr(&m, 0x000C, ch, 4);
  attr(&m, 0x0012, xp, 8);
  sign(a, &m);
  size_t n = transact(a->s, server, &m, r);
  if (get16(r) != 0x0109) {
    if (soft) return error_code(r, n);
    fprintf(stderr, "relayblast: ChannelBind refused with %d\n", error_code(r, n));
    exit(3);
  }
  return 0;
}

static void turn_release(struct alloc *a, const struct sockaddr_in *server) {
  uint8_t r[1500], zero[4] = {0};
  struct msg m;
  header(&m, 0x0004);
  attr(&m, 0x000D, zero, 4);
  sign(a, &m);
  transact(a->s, server, &m, r);
}

/* Sends `pps` packets per second for `seconds`, round-robin over the sockets, in batches. */
static uint64_t blast(struct alloc *al, int n, const struct sockaddr_in *dest, int per_socket_dest,
                      size_t size, double pps, double seconds, int channel, uint64_t id) {
  static uint8_t bufs[BATCH][2048];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  size_t hdr = channel ? 4 : 0;
  for (int j = 0; j < BATCH; j++) {
    memset(bufs[j], 0xab, sizeof bufs[j]);
    put16(bufs[j], 0x4000);
    put16(bufs[j] + 2, (uint16_t)size);
  }
  uint64_t start = now_ns(), total = (uint64_t)(pps * seconds), sent = 0;
  int i = 0;
  /* Batches small enough that pacing stays smooth at low rates. */
  uint64_t batch = pps >= 20000 ? BATCH : pps >= 2000 ? 4 : 1;
  while (sent < total) {
    uint64_t t = now_ns();
    uint64_t due = (uint64_t)((double)(t - start) * pps / 1e9);
    if (due > total) due = total;
    if (due <= sent) {
      struct timespec nap = {0, 20000};
      nanosleep(&nap, NULL);
      continue;
    }
    uint64_t k = due - sent;
    if (k > batch) k = batch;
    const struct sockaddr_in *to = per_socket_dest ? &dest[i] : dest;
    for (uint64_t j = 0; j < k; j++) {
      uint64_t ts = now_ns();
      memcpy(bufs[j] + hdr, &ts, 8);
      memcpy(bufs[j] + hdr + 8, &id, 8);
      iov[j] = (struct iovec){bufs[j], hdr + size};
      msgs[j].msg_hdr = (struct msghdr){.msg_name = (void *)to,
                                        .msg_namelen = sizeof *to,
                                        .msg_iov = &iov[j],
                                        .msg_iovlen = 1};
    }
    int r = sendmmsg(al[i].s, msgs, (unsigned)k, 0);
    if (r > 0) sent += (uint64_t)r;
    else if (errno != EAGAIN && errno != ENOBUFS) die("sendmmsg");
    /* Every allocation takes its turn, whatever the batch, so each gets PPS/N. */
    i = (i + 1) % n;
  }
  return sent;
}

static int run_send(char **argv) {
  struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  inet_pton(AF_INET, argv[0], &server.sin_addr);
  int n = atoi(argv[4]);
  struct alloc *al = calloc((size_t)n, sizeof *al);
  struct sockaddr_in *peers = calloc((size_t)n, sizeof *peers);
  srand((unsigned)now_ns());
  int direct_only = ntohs(server.sin_port) == 0; /* SERVER_PORT 0: no relay, direct only */
  for (int i = 0; i < n; i++) {
    al[i].s = udp_socket("0.0.0.0", 0);
    peers[i] = (struct sockaddr_in){.sin_family = AF_INET,
                                    .sin_port = htons((uint16_t)(atoi(argv[3]) + i))};
    inet_pton(AF_INET, argv[2], &peers[i].sin_addr);
    if (direct_only) continue;
    if (scanf("%255s %255s", al[i].user, al[i].pass) != 2) die("need N 'username password' lines");
    turn_allocate(&al[i], &server);
    turn_channel_bind(&al[i], &server, &peers[i], 0);
  }
  printf("ready");
  for (int i = 0; i < n && !direct_only; i++)
    printf(" %s:%d", inet_ntoa(al[i].relayed.sin_addr), ntohs(al[i].relayed.sin_port));
  printf("\n");
  fflush(stdout);
  char cmd[64];
  double pps, seconds;
  size_t size;
  unsigned long long id;
  while (scanf("%63s", cmd) == 1) {
    if (!strcmp(cmd, "quit")) break;
    errno = 0;
    if (scanf("%lf %lf %zu %llu", &pps, &seconds, &size, &id) != 4)
      die("expected: blast|direct PPS SECONDS SIZE ID");
    if (size < 16 || size > 1400) die("SIZE must be 16-1400 bytes");
    int channel = !strcmp(cmd, "blast");
    uint64_t t0 = now_ns();
    uint64_t sent = channel ? blast(al, n, &server, 0, size, pps, seconds, 1, id)
                            : blast(al, n, peers, 1, size, pps, seconds, 0, id);
    printf("sent=%llu us=%llu\n", (unsigned long long)sent, (unsigned long long)((now_ns() - t0) / 1000));
    fflush(stdout);
  }
  for (int i = 0; i < n && !direct_only; i++) turn_release(&al[i], &server);
  printf("released\n");
  fflush(stdout);
  return 0;
}

/* Two allocations relaying to each other (both clients behind NATs that force relaying):
 * prints each relayed address and the outcome of each direction. */
static int run_pair(char **argv) {
  struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  inet_pton(AF_INET, argv[0], &server.sin_addr);
  struct alloc al[2] = {0};
  srand((unsigned)now_ns());
  for (int i = 0; i < 2; i++) {
    if (scanf("%255s %255s", al[i].user, al[i].pass) != 2) die("need 2 'username password' lines");
    al[i].s = udp_socket("0.0.0.0", 0);
    turn_allocate(&al[i], &server);
    printf("relayed%d=%s:%d\n", i, inet_ntoa(al[i].relayed.sin_addr), ntohs(al[i].relayed.sin_port));
  }
  for (int i = 0; i < 2; i++) {
    int err = turn_channel_bind(&al[i], &server, &al[1 - i].relayed, 1);
    printf("bind%d=%d\n", i, err);
  }
  for (int i = 0; i < 2; i++) {
    uint8_t b[64] = {0x40, 0x00, 0, 8, 'p', 'a', 'i', 'r', '0' + (uint8_t)i};
    sendto(al[i].s, b, 12, 0, (struct sockaddr *)&server, sizeof server);
    struct pollfd p = {.fd = al[1 - i].s, .events = POLLIN};
    int got = 0;
    for (uint64_t until = now_ns() + 1000000000ull; !got && now_ns() < until;) {
      poll(&p, 1, 100);
      uint8_t r[1500];
      ssize_t n = recv(al[1 - i].s, r, sizeof r, MSG_DONTWAIT);
      got = n >= 12 && r[0] == 0x40 && r[8] == '0' + i;
    }
    printf("delivered%d=%d\n", i, got);
  }
  fflush(stdout);
  for (int i = 0; i < 2; i++) turn_release(&al[i], &server);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "pair")) return run_pair(argv + 2);
  if (argc == 5 && !strcmp(argv[1], "recv")) return run_recv(argv[2], atoi(argv[3]), atoi(argv[4]));
  if (argc == 7 && !strcmp(argv[1], "send")) return run_send(argv + 2);
  fprintf(stderr,
          "usage: relayblast recv IP BASE_PORT N\n"
          "       relayblast send SERVER_IP SERVER_PORT PEER_IP PEER_BASE_PORT N\n");
  return 64;
}
