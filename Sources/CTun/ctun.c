#include "CTun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

_Static_assert(CTUN_IFNAMSIZ == IFNAMSIZ, "IFNAMSIZ");
_Static_assert(0x001 == EPOLLIN && 0x004 == EPOLLOUT && 0x008 == EPOLLERR && 0x010 == EPOLLHUP,
               "epoll event bits");
_Static_assert(0x80000000u == (uint32_t)EPOLLET, "EPOLLET");
_Static_assert(CTUN_EPOLL_ADD == EPOLL_CTL_ADD && CTUN_EPOLL_DEL == EPOLL_CTL_DEL &&
               CTUN_EPOLL_MOD == EPOLL_CTL_MOD, "epoll ops");

static int copy_ifname(char dst[IFNAMSIZ], const char *name) {
    if (name == NULL) return -EINVAL;
    size_t len = strnlen(name, IFNAMSIZ);
    if (len >= IFNAMSIZ) return -ENAMETOOLONG;
    memset(dst, 0, IFNAMSIZ);
    memcpy(dst, name, len);
    return 0;
}

_Static_assert(CTUN_TUN_F_CSUM == TUN_F_CSUM && CTUN_TUN_F_TSO4 == TUN_F_TSO4 && CTUN_TUN_F_TSO6 == TUN_F_TSO6,
               "TUN_F bits");

int ctun_open(const char *name, int multi_queue, char *actual_name_out) {
    return ctun_open_vnet(name, multi_queue, 0, actual_name_out);
}

int ctun_set_offload(int fd, unsigned flags) {
    return ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0;
}

int ctun_open_vnet(const char *name, int multi_queue, int vnet_hdr, char *actual_name_out) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    int rc = copy_ifname(ifr.ifr_name, name);
    if (rc < 0) return rc;
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0) | (vnet_hdr ? IFF_VNET_HDR : 0);

    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    if (actual_name_out != NULL) {
        memcpy(actual_name_out, ifr.ifr_name, IFNAMSIZ);
        actual_name_out[IFNAMSIZ - 1] = '\0';
    }
    return fd;
}

/* Interface ioctls need some socket to travel on; an AF_INET datagram socket is the usual one. */
static int ifreq_ioctl(unsigned long request, struct ifreq *ifr) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return -errno;
    int rc = ioctl(sock, request, ifr) < 0 ? -errno : 0;
    close(sock);
    return rc;
}

int ctun_set_mtu(const char *ifname, int mtu) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    int rc = copy_ifname(ifr.ifr_name, ifname);
    if (rc < 0) return rc;
    ifr.ifr_mtu = mtu;
    return ifreq_ioctl(SIOCSIFMTU, &ifr);
}

int ctun_set_up(const char *ifname) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    int rc = copy_ifname(ifr.ifr_name, ifname);
    if (rc < 0) return rc;
    /* Read-modify-write so flags set by others (e.g. NOARP) survive. */
    rc = ifreq_ioctl(SIOCGIFFLAGS, &ifr);
    if (rc < 0) return rc;
    ifr.ifr_flags |= IFF_UP;
    return ifreq_ioctl(SIOCSIFFLAGS, &ifr);
}

size_t ctun_mmsghdr_size(void) { return sizeof(struct mmsghdr); }

int ctun_recvmmsg(int fd, void *hdrs, struct iovec *iovs, struct sockaddr_storage *addrs,
                  unsigned count, uint32_t *lengths_out, uint8_t *truncated_out) {
    struct mmsghdr *msgs = hdrs;
    memset(msgs, 0, count * sizeof *msgs);
    for (unsigned i = 0; i < count; i++) {
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &addrs[i];
        msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
    }
    int n;
    do {
        n = recvmmsg(fd, msgs, count, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
        lengths_out[i] = msgs[i].msg_len;
        truncated_out[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    }
    return n;
}

int ctun_sendmmsg(int fd, void *hdrs, struct iovec *iovs, unsigned iovs_per_msg,
                  struct sockaddr_storage *addrs, const uint32_t *addr_lens, unsigned count) {
    struct mmsghdr *msgs = hdrs;
    memset(msgs, 0, count * sizeof *msgs);
    for (unsigned i = 0; i < count; i++) {
        msgs[i].msg_hdr.msg_iov = &iovs[(size_t)i * iovs_per_msg];
        msgs[i].msg_hdr.msg_iovlen = iovs_per_msg;
        msgs[i].msg_hdr.msg_name = &addrs[i];
        msgs[i].msg_hdr.msg_namelen = addr_lens[i];
    }
    int n;
    do {
        n = sendmmsg(fd, msgs, count, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int ctun_udp_segmentation_probe(int fd) {
    /* Kernels before 4.18 ignore an unknown SOL_UDP cmsg and would send the whole run as one
     * datagram, so support must be known before the first segmented send, not inferred from it. */
    int value = 0;
    socklen_t length = sizeof value;
    return getsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &value, &length) < 0 ? -errno : 0;
}

int ctun_udp_set_gro(int fd, int on) {
    int value = on ? 1 : 0;
    return setsockopt(fd, IPPROTO_UDP, UDP_GRO, &value, sizeof value) < 0 ? -errno : 0;
}

size_t ctun_segment_cmsg_space(void) { return CMSG_SPACE(sizeof(uint16_t)); }

int ctun_sendmmsg_segmented(int fd, void *hdrs, void *cmsgs, struct iovec *iovs,
                            struct sockaddr_storage *addrs, const uint32_t *addr_lens,
                            const struct ctun_wire_message *msgs, unsigned count) {
    struct mmsghdr *out = hdrs;
    const size_t space = CMSG_SPACE(sizeof(uint16_t));
    memset(out, 0, count * sizeof *out);
    for (unsigned i = 0; i < count; i++) {
        struct msghdr *h = &out[i].msg_hdr;
        h->msg_iov = &iovs[msgs[i].iov_index];
        h->msg_iovlen = msgs[i].iov_count;
        h->msg_name = &addrs[msgs[i].addr_index];
        h->msg_namelen = addr_lens[msgs[i].addr_index];
        if (msgs[i].segment_size == 0) continue;
        char *control = (char *)cmsgs + (size_t)i * space;
        memset(control, 0, space);
        h->msg_control = control;
        h->msg_controllen = space;
        struct cmsghdr *cm = CMSG_FIRSTHDR(h);
        cm->cmsg_level = IPPROTO_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t size = msgs[i].segment_size;
        memcpy(CMSG_DATA(cm), &size, sizeof size);
    }
    int n;
    do {
        n = sendmmsg(fd, out, count, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

size_t ctun_gro_cmsg_space(void) { return CMSG_SPACE(sizeof(int)); }

int ctun_recvmmsg_segmented(int fd, void *hdrs, void *cmsgs, struct iovec *iovs,
                            struct sockaddr_storage *addrs, unsigned count, uint32_t *lengths_out,
                            uint8_t *truncated_out, uint32_t *segment_sizes_out) {
    struct mmsghdr *msgs = hdrs;
    const size_t space = CMSG_SPACE(sizeof(int));
    memset(msgs, 0, count * sizeof *msgs);
    for (unsigned i = 0; i < count; i++) {
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &addrs[i];
        msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
        msgs[i].msg_hdr.msg_control = (char *)cmsgs + (size_t)i * space;
        msgs[i].msg_hdr.msg_controllen = space;
    }
    int n;
    do {
        n = recvmmsg(fd, msgs, count, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
        struct msghdr *h = &msgs[i].msg_hdr;
        uint32_t segment = 0;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm != NULL; cm = CMSG_NXTHDR(h, cm)) {
            if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_GRO &&
                cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
                int value;
                memcpy(&value, CMSG_DATA(cm), sizeof value);
                if (value > 0) segment = (uint32_t)value;
            }
        }
        lengths_out[i] = msgs[i].msg_len;
        segment_sizes_out[i] = segment;
        truncated_out[i] = (h->msg_flags & MSG_TRUNC) != 0 ||
                           ((h->msg_flags & MSG_CTRUNC) != 0 && segment == 0);
    }
    return n;
}

int ctun_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int ctun_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev = {.events = events, .data = {.u64 = token}};
    return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}

int ctun_epoll_wait(int epfd, uint64_t *tokens_out, uint32_t *events_out, int max_events,
                    int64_t timeout_ns) {
    struct epoll_event evs[CTUN_EPOLL_MAX_EVENTS];
    if (max_events > CTUN_EPOLL_MAX_EVENTS) max_events = CTUN_EPOLL_MAX_EVENTS;
    if (max_events < 1) return -EINVAL;

    int n;
    if (timeout_ns < 0) {
        n = epoll_wait(epfd, evs, max_events, -1);
    } else {
        /* epoll_pwait2 keeps nanosecond timeouts; epoll_wait would round timers to ms. */
        struct timespec ts = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
        n = epoll_pwait2(epfd, evs, max_events, &ts, NULL);
        if (n < 0 && errno == ENOSYS) {
            int64_t ms = (timeout_ns + 999999) / 1000000;
            n = epoll_wait(epfd, evs, max_events, ms > 0x7fffffff ? 0x7fffffff : (int)ms);
        }
    }
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        tokens_out[i] = evs[i].data.u64;
        events_out[i] = evs[i].events;
    }
    return n;
}

int ctun_eventfd_create(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int ctun_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(fd, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
    /* EAGAIN means the counter is saturated: the reader is already due to wake. */
    if (n < 0 && errno != EAGAIN) return -errno;
    return 0;
}

int ctun_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t n;
    do {
        n = read(fd, &value, sizeof value);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN) return -errno;
    return 0;
}

int ctun_enter_netns(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int ctun_set_thread_name(const char *name) {
    char buf[16];
    strncpy(buf, name, sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    int err = pthread_setname_np(pthread_self(), buf);
    return err == 0 ? 0 : -err;
}

int ctun_set_reuseport(int fd) {
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ? -errno : 0;
}

int ctun_attach_lane_steering(int fd, unsigned lane_offset, unsigned lanes) {
    if (lanes == 0) return -EINVAL;
    /* A = payload[lane_offset]; A = A % lanes; return A. A datagram too short to hold the byte
     * makes the load fail, which returns 0: such datagrams go to the first lane. */
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, lane_offset),
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, lanes),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    struct sock_fprog program = {.len = sizeof code / sizeof code[0], .filter = code};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program) < 0 ? -errno : 0;
}

int ctun_available_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    int count = CPU_COUNT(&set);
    return count > 0 ? count : 1;
}

int ctun_pin_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    return err == 0 ? 0 : -err;
}
