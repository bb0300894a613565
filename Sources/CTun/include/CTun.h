#ifndef CTUN_H
#define CTUN_H

/*
 * What Swift cannot import on Linux: TUN ioctls (macros), mmsghdr/recvmmsg/sendmmsg,
 * epoll (packed struct), eventfd, setns, thread names, and UDP_SEGMENT/UDP_GRO with their cmsgs.
 * Every int-returning function returns >= 0 on success and -errno on failure.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

enum { CTUN_IFNAMSIZ = 16 };

/* TUN: IFF_TUN | IFF_NO_PI (| IFF_MULTI_QUEUE), opened O_NONBLOCK | O_CLOEXEC.
 * `actual_name_out` (CTUN_IFNAMSIZ bytes) receives the kernel's name, since "tun%d" is a template. */
int ctun_open(const char *name, int multi_queue, char *actual_name_out);
/* As ctun_open, with IFF_VNET_HDR when vnet_hdr is 1: every read and write then starts with a
 * 10-byte virtio-net header. */
int ctun_open_vnet(const char *name, int multi_queue, int vnet_hdr, char *actual_name_out);
/* TUNSETOFFLOAD with the TUN_F_* bits below (device-wide); 0 or -errno (EINVAL: unsupported bit). */
enum {
    CTUN_TUN_F_CSUM = 0x01,
    CTUN_TUN_F_TSO4 = 0x02,
    CTUN_TUN_F_TSO6 = 0x04,
    CTUN_TUN_F_USO4 = 0x20,
    CTUN_TUN_F_USO6 = 0x40,
};
int ctun_set_offload(int fd, unsigned flags);
int ctun_set_mtu(const char *ifname, int mtu);
int ctun_set_up(const char *ifname);

/* UDP batches. `hdrs` is caller-owned scratch of count * ctun_mmsghdr_size() bytes, so neither
 * side allocates per call. Message i uses iovs[i * iovs_per_msg ...] and addrs[i]. */
size_t ctun_mmsghdr_size(void);
int ctun_recvmmsg(int fd, void *hdrs, struct iovec *iovs, struct sockaddr_storage *addrs,
                  unsigned count, uint32_t *lengths_out, uint8_t *truncated_out);
int ctun_sendmmsg(int fd, void *hdrs, struct iovec *iovs, unsigned iovs_per_msg,
                  struct sockaddr_storage *addrs, const uint32_t *addr_lens, unsigned count);

/* UDP segmentation offload: UDP_SEGMENT (GSO) on send, UDP_GRO on receive.
 * One sendmsg with a UDP_SEGMENT cmsg carries a run of equal-size datagrams through the stack once;
 * one recvmsg with UDP_GRO on may return such a run, with a UDP_GRO cmsg giving the segment size. */
enum {
    /* Datagrams per segmented send. The kernel allows 64 (128 since 6.x); 64 works everywhere. */
    CTUN_UDP_MAX_SEGMENTS = 64,
    /* UDP payload bytes per segmented send: a whole run must fit one 64 KiB IP packet. */
    CTUN_UDP_MAX_SEGMENTED_BYTES = 65000,
    /* Bytes a receive slot needs to hold any coalesced run (or any UDP datagram). */
    CTUN_UDP_COALESCED_SLOT_BYTES = 65536,
};

/* 0 when the kernel knows UDP_SEGMENT (probed with getsockopt), else -errno (ENOPROTOOPT). */
int ctun_udp_segmentation_probe(int fd);
/* Turns UDP_GRO on (1) or off (0); -errno (ENOPROTOOPT) where the kernel lacks it. */
int ctun_udp_set_gro(int fd, int on);

/* One message on the wire for ctun_sendmmsg_segmented: iovecs iovs[iov_index ..< iov_index + iov_count]
 * to addrs[addr_index]; segment_size > 0 adds a UDP_SEGMENT cmsg (the kernel cuts the payload into
 * datagrams of that size), 0 sends one plain datagram. */
struct ctun_wire_message {
    uint32_t iov_index;
    uint32_t iov_count;
    uint32_t addr_index;
    uint16_t segment_size;
    uint16_t reserved;
};

/* Bytes of control buffer one segmented message needs (`cmsgs` holds count of them). */
size_t ctun_segment_cmsg_space(void);
/* sendmmsg of `count` wire messages; returns how many the kernel took, or -errno for the first. */
int ctun_sendmmsg_segmented(int fd, void *hdrs, void *cmsgs, struct iovec *iovs,
                            struct sockaddr_storage *addrs, const uint32_t *addr_lens,
                            const struct ctun_wire_message *msgs, unsigned count);

/* Bytes of control buffer one receive slot needs for the UDP_GRO cmsg. */
size_t ctun_gro_cmsg_space(void);
/* recvmmsg into `count` slots (iovs[i], one each) with room for a UDP_GRO cmsg per slot (`cmsgs`).
 * segment_sizes_out[i] is the run's segment size, 0 when the slot holds one plain datagram.
 * truncated_out[i] is set when the data did not fit, or when the control data did not (the segment
 * size is then unknown, so the slot cannot be split safely). */
int ctun_recvmmsg_segmented(int fd, void *hdrs, void *cmsgs, struct iovec *iovs,
                            struct sockaddr_storage *addrs, unsigned count, uint32_t *lengths_out,
                            uint8_t *truncated_out, uint32_t *segment_sizes_out);

/* UDP lanes: SO_REUSEPORT on (before bind), and the group's steering program, which sends each
 * datagram to socket (payload[lane_offset] mod lanes) in bind order (cBPF; the program sees the
 * UDP payload at offset 0). 0 or -errno. */
int ctun_set_reuseport(int fd);
int ctun_attach_lane_steering(int fd, unsigned lane_offset, unsigned lanes);
/* The number of CPUs this thread may run on (sched_getaffinity), at least 1. */
int ctun_available_cpus(void);
/* Pins the calling thread to CPU `cpu` (0-based); 0 or -errno. */
int ctun_pin_thread(int cpu);

/* epoll. Event bits are the kernel's values (checked in ctun.c). */
static const uint32_t CTUN_EPOLLIN = 0x001;
static const uint32_t CTUN_EPOLLOUT = 0x004;
static const uint32_t CTUN_EPOLLERR = 0x008;
static const uint32_t CTUN_EPOLLHUP = 0x010;
static const uint32_t CTUN_EPOLLET = 0x80000000u;
enum { CTUN_EPOLL_ADD = 1, CTUN_EPOLL_DEL = 2, CTUN_EPOLL_MOD = 3 };
enum { CTUN_EPOLL_MAX_EVENTS = 256 };
int ctun_epoll_create(void);
int ctun_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
/* timeout_ns < 0 waits forever; max_events is capped at CTUN_EPOLL_MAX_EVENTS. */
int ctun_epoll_wait(int epfd, uint64_t *tokens_out, uint32_t *events_out, int max_events,
                    int64_t timeout_ns);

/* eventfd (nonblocking): signal adds 1; drain resets to 0 (an empty counter is not an error). */
int ctun_eventfd_create(void);
int ctun_eventfd_signal(int fd);
int ctun_eventfd_drain(int fd);

/* Moves the calling thread into the network namespace at `path` (e.g. /var/run/netns/x). */
int ctun_enter_netns(const char *path);
/* Names the calling thread (truncated to 15 bytes, the kernel's limit). */
int ctun_set_thread_name(const char *name);

#endif
