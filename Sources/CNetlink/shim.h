// Every C header the kernel layer needs, in one place.
#ifndef TANDEM_CNETLINK_SHIM_H
#define TANDEM_CNETLINK_SHIM_H

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/socket.h>
#include <netlink/errno.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/family.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/cache.h>
#include <linux/ip_vs.h>
#include <linux/rtnetlink.h>
#include <linux/if_addr.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sys/prctl.h>

#endif
