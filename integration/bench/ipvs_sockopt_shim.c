/* LD_PRELOAD shim for health_bench.py's keepalived mode: this host's kernel has no IPVS, and
 * keepalived's checker process exits at start-up ("IPVS: Can't initialize ipvs", exit FATAL) when
 * it cannot open IPVS, before any check runs. Tandem's daemon logs that once and keeps checking, so
 * to compare the checkers on the same host, keepalived's IPVS socket-option calls (the path its
 * libipvs falls back to when the generic-netlink IPVS family is missing) are answered here: every
 * IP_VS_SO_SET_* succeeds without doing anything and IP_VS_SO_GET_* returns zeroed data with a
 * version. Nothing else is touched: the checks themselves (socket, connect, epoll, timers) are
 * keepalived's own, and it writes to IPVS only at start-up and when a real server changes state.
 * The first IPVS call answered writes one line to stderr (keepalived's log in health_bench.py).
 *
 * Build: cc -O2 -shared -fPIC -o ipvs_sockopt_shim.so ipvs_sockopt_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IPVS_BASE_CTL (64 + 1024 + 64) /* IP_VS_BASE_CTL in <linux/ip_vs.h> */
#define IPVS_SET_MAX (IPVS_BASE_CTL + 15)
#define IPVS_GET_MAX (IPVS_BASE_CTL + 7)
#define IPVS_GET_INFO (IPVS_BASE_CTL + 1)
#define IPVS_VERSION 0x010201u /* 1.2.1, what current kernels report */

static int announced;

static void announce(void) {
    static const char line[] = "ipvs_sockopt_shim: no IPVS here; answering keepalived's IPVS socket options\n";
    if (!__atomic_exchange_n(&announced, 1, __ATOMIC_RELAXED))
        (void)!write(2, line, sizeof line - 1);
}

static int is_ipvs(int level, int optname, int max) {
    return level == IPPROTO_IP && optname >= IPVS_BASE_CTL && optname <= max;
}

int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen) {
    static int (*real)(int, int, int, const void *, socklen_t);
    if (is_ipvs(level, optname, IPVS_SET_MAX)) {
        announce();
        return 0;
    }
    if (!real)
        real = (int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt");
    return real(fd, level, optname, optval, optlen);
}

int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen) {
    static int (*real)(int, int, int, void *, socklen_t *);
    if (is_ipvs(level, optname, IPVS_GET_MAX)) {
        announce();
        if (optval && optlen) {
            memset(optval, 0, *optlen);
            if (optname == IPVS_GET_INFO && *optlen >= 3 * sizeof(unsigned int)) {
                unsigned int *info = optval; /* struct ip_vs_getinfo: version, size, num_services */
                info[0] = IPVS_VERSION;
                info[1] = 4096;
            }
        }
        return 0;
    }
    if (!real)
        real = (int (*)(int, int, int, void *, socklen_t *))dlsym(RTLD_NEXT, "getsockopt");
    return real(fd, level, optname, optval, optlen);
}
