/*
 * The floor for health_bench.py's TCP mode: what the kernel charges any prober for the same
 * work, with no event-loop, scheduling or bookkeeping of its own. Connects to the same N real
 * servers (127.0.X.Y:8080, as health_bench.py numbers them) once a second each, spread evenly
 * over the second in 1 ms steps; non-blocking connect, epoll for completion, SO_LINGER 0 close
 * (a reset, as tandemd's checks close). Prints one JSON line: checks passed and failed, user and
 * system CPU as % of one core.
 *
 *     cc -O2 -o /tmp/connect_floor integration/bench/connect_floor.c
 *     connect_floor SERVERS SECONDS      (run inside the namespace that holds the servers)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double seconds(struct timeval a, struct timeval b) {
    return (b.tv_sec - a.tv_sec) + (b.tv_usec - a.tv_usec) / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SERVERS SECONDS\n", argv[0]);
        return 64;
    }
    int n = atoi(argv[1]);
    double duration = atof(argv[2]);
    if (n < 1 || n > 62500 || duration <= 0 || duration > 600) {
        fprintf(stderr, "SERVERS must be 1-62500 and SECONDS 0-600\n");
        return 64;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event events[256];
    double start = now(), step = 1.0 / n;
    long next = 0, passed = 0, failed = 0;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    while (now() - start < duration) {
        double t = now();
        while (start + next * step <= t) {
            int i = next++ % n;
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(8080)};
            a.sin_addr.s_addr = htonl((127u << 24) | ((1u + i / 250) << 8) | (1u + i % 250));
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) { failed++; continue; }
            if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
                failed++;
                close(fd);
                continue;
            }
            struct epoll_event e = {.events = EPOLLOUT | EPOLLONESHOT, .data.fd = fd};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        }
        double wait_ms = (start + next * step - now()) * 1000;
        int k = epoll_wait(ep, events, 256, wait_ms > 1 ? (int)wait_ms : 1);
        for (int j = 0; j < k; j++) {
            int fd = events[j].data.fd, err = 0;
            socklen_t len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) failed++; else passed++;
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(fd);
        }
    }
    getrusage(RUSAGE_SELF, &r1);
    double elapsed = now() - start;
    printf("{\"passed\": %ld, \"failed\": %ld, \"cpu_user_percent\": %.1f, \"cpu_system_percent\": %.1f}\n",
           passed, failed, seconds(r0.ru_utime, r1.ru_utime) / elapsed * 100,
           seconds(r0.ru_stime, r1.ru_stime) / elapsed * 100);
    return 0;
}
