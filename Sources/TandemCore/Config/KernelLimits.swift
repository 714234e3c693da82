/// The limits the kernel's IPVS and `ipvsadm` really enforce on values Tandem sends them.
///
/// A config that passes `check-config` must install as written, come back from the kernel
/// unchanged (or the drift repair would rewrite it forever), and print as `ipvsadm -S -n` text
/// that `ipvsadm -R` accepts. So each limit here is the stricter of the kernel's and ipvsadm's,
/// and each names its source. Where the kernel's limit depends on its tick rate HZ, the
/// strictest common one, HZ=1000, is used: a config valid on one router is valid on any.
public enum KernelLimits {
    /// The kernel's strictest common tick rate (CONFIG_HZ_1000); Debian's is 250.
    public static let strictestHZ: UInt64 = 1000

    /// Longest persistence timeout: 31 days.
    /// - ipvsadm.c: `MAX_TIMEOUT (86400*31)`; `-p` above it is "invalid timeout value".
    /// - ip_vs_ctl.c `ip_vs_add_service`/`ip_vs_edit_service`: `svc->timeout = u->timeout * HZ`
    ///   in an unsigned int, so beyond UINT_MAX/HZ (4,294,967 s at HZ=1000) the value wraps and
    ///   reads back changed.
    public static let maximumPersistenceTimeout = TimeSpan.seconds(86_400 * 31)

    /// Longest TCP, TCP FIN and UDP connection timeout: INT_MAX/HZ seconds, 2,147,483 s at
    /// HZ=1000 (about 24.8 days). ip_vs_ctl.c `ip_vs_set_timeout` answers EINVAL above it
    /// ("timeouts are too big (to prevent overflow)"). ipvsadm's own limit (31 days) is looser.
    public static let maximumProtocolTimeout = TimeSpan.seconds(UInt64(Int32.max) / strictestHZ)

    /// The persistence engines the kernel has: one, `sip` (net/netfilter/ipvs/Kconfig
    /// IP_VS_PE_SIP; loaded as module `ip_vs_pe_<name>`, so the name is case-sensitive).
    public static let persistenceEngines = ["sip"]

    /// Highest real-server weight: 65535 (ipvsadm.c `-w`: `string_to_number(optarg, 0, 65535)`;
    /// the kernel refuses a negative weight with ERANGE, ip_vs_ctl.c `ip_vs_add_dest`).
    public static let maximumWeight = 65535

    /// Highest upper or lower connection threshold: INT_MAX (ipvsadm.c `-x`/`-y`:
    /// `string_to_number(optarg, 0, INT_MAX)`; the kernel field is u32, but ipvsadm -R would
    /// refuse the save text of anything larger).
    public static let maximumThreshold = UInt32(Int32.max)

    /// Firewall marks: 1…UINT_MAX. ipvsadm.c `parse_fwmark` refuses 0 (mark 0 means "not a
    /// fwmark service" to the kernel, ip_vs_ctl.c `ip_vs_genl_parse_service`).
    public static let fwmarks: ClosedRange<Int64> = 1...Int64(UInt32.max)

    /// Largest sync message payload: 65535 minus the IP and UDP headers. ip_vs_sync.c
    /// `start_sync_thread` clamps `sync_maxlen` to `65535 - hlen` (hlen 28 for IPv4, 48 for IPv6).
    public static func maximumSyncMessageLength(ipv6: Bool) -> Int { 65535 - (ipv6 ? 48 : 28) }

    /// ip_vs_sync.c `start_sync_thread` raises a backup daemon's `sync_maxlen` to at least 1024.
    public static let minimumBackupSyncMessageLength = 1024

    /// Smallest sync message payload Tandem accepts: the kernel takes down to 1 for a master,
    /// but below this not even one IPv6 connection entry with its header fits (ip_vs_sync.c
    /// `struct ip_vs_sync_v6` is 56 bytes, the message header 8).
    public static let minimumSyncMessageLength = 64

    /// Scheduler names: every scheduler module in net/netfilter/ipvs/Kconfig, plus `none`
    /// (ip_vs_ctl.c `ip_vs_add_service`: "none" binds no scheduler). ipvsadm passes any name.
    public static let schedulers = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf",
                                    "mh", "twos", "none"]

    /// Schedulers newer than kernels still in service: name → first kernel release.
    /// ip_vs_twos.c was added in Linux 6.2, so Debian 12's 6.1 lacks it (its
    /// /lib/modules/…/net/netfilter/ipvs has no ip_vs_twos.ko, and the kernel answers ENOENT).
    public static let schedulerFirstRelease = ["twos": "6.2"]
}
