// <sys/epoll.h>, which Swift's Glibc module does not include: the health checks' connect
// poller (Sources/TandemDaemon/Health/ConnectPoller.swift) uses it.
#include <sys/epoll.h>
