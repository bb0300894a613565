#ifndef CRELAY_H
#define CRELAY_H

/*
 * The split proxy's socket calls that Swift cannot make cleanly on Linux: IP_TRANSPARENT
 * listeners and connections, splice(2) with pipes, resets. IPv4 only. Addresses and ports are in
 * host byte order. Every int-returning function returns >= 0 on success and -errno on failure.
 */

#include <stdint.h>

/* A non-blocking TCP listener on 0.0.0.0:port with IP_TRANSPARENT, so nftables' tproxy can hand
 * it connections addressed to any host. */
int crelay_listen_transparent(uint16_t port, int backlog);

/* accept4, non-blocking and close-on-exec; the connection's local (its original destination under
 * tproxy) and remote addresses. -EAGAIN when none is waiting. */
int crelay_accept(int listener, uint32_t *local_addr, uint16_t *local_port, uint32_t *remote_addr,
                  uint16_t *remote_port);

/* Starts a non-blocking connection from src (any address, IP_TRANSPARENT) to dst. `congestion`
 * (may be NULL) names the TCP congestion control; `buffer_bytes` > 0 forces both socket buffers.
 * Returns the descriptor while the connection is still being made (EINPROGRESS). */
int crelay_connect_transparent(uint32_t src_addr, uint16_t src_port, uint32_t dst_addr, uint16_t dst_port,
                               const char *congestion, int buffer_bytes);

/* The socket's pending error (SO_ERROR): 0 once a non-blocking connect has succeeded. */
int crelay_socket_error(int fd);

/* Forces both socket buffers to `bytes` (SO_SNDBUFFORCE, SO_RCVBUFFORCE, falling back to the
 * unforced options without CAP_NET_ADMIN) and sets the congestion control if `congestion` is set. */
int crelay_tune(int fd, const char *congestion, int buffer_bytes);

/* SO_KEEPALIVE with TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT, and TCP_USER_TIMEOUT (ms, 0: none). */
int crelay_keepalive(int fd, int idle_seconds, int interval_seconds, int count, unsigned user_timeout_ms);

/* A non-blocking, close-on-exec pipe of at least `bytes` capacity (F_SETPIPE_SZ; the kernel's
 * default where it refuses). fds[0] reads, fds[1] writes. Returns the capacity. */
int crelay_pipe(int fds[2], int bytes);

/* splice(2) of up to `length` bytes, non-blocking, moving pages where it can. 0 means end of
 * stream when `in` is a socket. */
long crelay_splice(int in, int out, unsigned long length);

/* shutdown(fd, SHUT_WR). */
int crelay_shutdown_write(int fd);

/* Closes with SO_LINGER {1, 0}, so the peer sees a reset instead of an orderly end. */
void crelay_reset(int fd);

#endif
