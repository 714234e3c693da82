// <sys/epoll.h>, which Swift's Glibc module does not include: the epoll wrappers in
// Sources/TandemKernel/System/Posix.swift (used by the health checks' connect poller) and the
// heartbeat thread's wait set.
#include <sys/epoll.h>
#include <sys/prctl.h>

// Names the calling thread (at most 15 bytes are kept), as top -H and /proc/PID/task/TID/comm
// show it: prctl(2) PR_SET_NAME, which is variadic and so not callable from Swift directly
// (glibc's pthread_setname_np is a GNU extension the Glibc module leaves out).
static inline int tandem_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}
