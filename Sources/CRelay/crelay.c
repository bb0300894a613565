// The split proxy's socket calls: transparent listeners and connections, splice, resets.
#include "CRelay.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in inet_address(uint32_t addr, uint16_t port) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(addr);
    sa.sin_port = htons(port);
    return sa;
}

static int fail_closing(int fd) {
    int saved = errno;
    close(fd);
    return -saved;
}

int crelay_listen_transparent(uint16_t port, int backlog) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int on = 1;
    if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof on) != 0) return fail_closing(fd);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) return fail_closing(fd);
    struct sockaddr_in sa = inet_address(INADDR_ANY, port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return fail_closing(fd);
    if (listen(fd, backlog) != 0) return fail_closing(fd);
    return fd;
}

int crelay_accept(int listener, uint32_t *local_addr, uint16_t *local_port, uint32_t *remote_addr,
                  uint16_t *remote_port) {
    struct sockaddr_in remote;
    socklen_t length = sizeof remote;
    int fd = accept4(listener, (struct sockaddr *)&remote, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return -errno;
    struct sockaddr_in local;
    length = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &length) != 0 || local.sin_family != AF_INET
        || remote.sin_family != AF_INET) {
        int saved = errno ? errno : EAFNOSUPPORT;
        crelay_reset(fd);
        return -saved;
    }
    *local_addr = ntohl(local.sin_addr.s_addr);
    *local_port = ntohs(local.sin_port);
    *remote_addr = ntohl(remote.sin_addr.s_addr);
    *remote_port = ntohs(remote.sin_port);
    return fd;
}

int crelay_tune(int fd, const char *congestion, int buffer_bytes) {
    if (buffer_bytes > 0) {
        // The kernel doubles the value for its bookkeeping; ask for half so the figure is the budget.
        int half = buffer_bytes / 2;
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &half, sizeof half) != 0
            && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &half, sizeof half) != 0)
            return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &half, sizeof half) != 0
            && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &half, sizeof half) != 0)
            return -errno;
    }
    if (congestion != NULL && congestion[0] != 0) {
        if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, congestion, (socklen_t)strlen(congestion)) != 0) return -errno;
    }
    return 0;
}

int crelay_connect_transparent(uint32_t src_addr, uint16_t src_port, uint32_t dst_addr, uint16_t dst_port,
                               const char *congestion, int buffer_bytes) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int on = 1;
    if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof on) != 0) return fail_closing(fd);
    // A previous connection of the same four-tuple may still be in TIME_WAIT here.
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) return fail_closing(fd);
    int rc = crelay_tune(fd, congestion, buffer_bytes);
    if (rc != 0) { close(fd); return rc; }
    struct sockaddr_in src = inet_address(src_addr, src_port);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) return fail_closing(fd);
    struct sockaddr_in dst = inet_address(dst_addr, dst_port);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS) return fail_closing(fd);
    return fd;
}

int crelay_socket_error(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return -errno;
    return -error;
}

int crelay_keepalive(int fd, int idle_seconds, int interval_seconds, int count, unsigned user_timeout_ms) {
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) != 0) return -errno;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_seconds, sizeof idle_seconds) != 0) return -errno;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_seconds, sizeof interval_seconds) != 0) return -errno;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count) != 0) return -errno;
    if (user_timeout_ms > 0
        && setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms) != 0)
        return -errno;
    return 0;
}

int crelay_pipe(int fds[2], int bytes) {
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return -errno;
    int size = fcntl(fds[1], F_SETPIPE_SZ, bytes);
    if (size < 0) size = fcntl(fds[1], F_GETPIPE_SZ);
    return size < 0 ? 65536 : size;
}

long crelay_splice(int in, int out, unsigned long length) {
    ssize_t n = splice(in, NULL, out, NULL, length, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    return n < 0 ? -errno : (long)n;
}

int crelay_shutdown_write(int fd) {
    return shutdown(fd, SHUT_WR) == 0 ? 0 : -errno;
}

void crelay_reset(int fd) {
    struct linger linger = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
    close(fd);
}
