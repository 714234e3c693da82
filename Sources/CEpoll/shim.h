// <sys/epoll.h>, which Swift's Glibc module does not include: the epoll wrappers in
// Sources/TandemKernel/System/Posix.swift (used by the health checks' connect poller).
#include <sys/epoll.h>
