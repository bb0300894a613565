#ifndef CTUN_H
#define CTUN_H

/*
 * What Swift cannot import on Linux: TUN ioctls (macros), mmsghdr/recvmmsg/sendmmsg,
 * epoll (packed struct), eventfd, setns and thread names.
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
int ctun_set_mtu(const char *ifname, int mtu);
int ctun_set_up(const char *ifname);

/* UDP batches. `hdrs` is caller-owned scratch of count * ctun_mmsghdr_size() bytes, so neither
 * side allocates per call. Message i uses iovs[i * iovs_per_msg ...] and addrs[i]. */
size_t ctun_mmsghdr_size(void);
int ctun_recvmmsg(int fd, void *hdrs, struct iovec *iovs, struct sockaddr_storage *addrs,
                  unsigned count, uint32_t *lengths_out, uint8_t *truncated_out);
int ctun_sendmmsg(int fd, void *hdrs, struct iovec *iovs, unsigned iovs_per_msg,
                  struct sockaddr_storage *addrs, const uint32_t *addr_lens, unsigned count);

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
