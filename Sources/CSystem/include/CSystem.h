#ifndef GATEWAY_CSYSTEM_H
#define GATEWAY_CSYSTEM_H
// The one place that reaches OS facilities Glibc's Swift module does not expose.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <errno.h>
#include <signal.h>

// epoll_event is packed on x86_64, so Swift never builds one directly.
int csys_epoll_create(void);
int csys_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
// Waits into an internal buffer of `capacity` events; read results with the accessors.
int csys_epoll_wait(int epfd, void *events, int capacity, int timeout_ms);
void *csys_epoll_events_alloc(int capacity);
void csys_epoll_events_free(void *events);
uint32_t csys_epoll_event_flags(const void *events, int index);
uint64_t csys_epoll_event_data(const void *events, int index);

int csys_eventfd(void);
int csys_accept(int fd, struct sockaddr_storage *addr, socklen_t *len);
int csys_socket_stream(int family);
int csys_set_int_option(int fd, int level, int name, int value);
int csys_connect(int fd, const struct sockaddr *addr, socklen_t len);
int csys_socket_error(int fd);
int csys_errno(void);
void csys_ignore_sigpipe(void);
// Blocks `signo` in the calling thread (threads it creates later inherit that) and returns a
// non-blocking signalfd that receives it instead, so it is handled on a loop rather than in a
// signal handler; -1 on failure.
int csys_signal_fd(int signo);
// Reads every pending signal from a signalfd; returns how many there were.
int csys_signal_fd_drain(int fd);
int csys_raise_nofile_limit(void);
// Gives free heap memory back to the kernel (glibc's malloc_trim): after a spike of connections
// the freed objects would otherwise keep the process's resident size at the peak.
int csys_malloc_trim(void);

static const uint32_t CSYS_EPOLLIN = EPOLLIN;
static const uint32_t CSYS_EPOLLOUT = EPOLLOUT;
static const uint32_t CSYS_EPOLLERR = EPOLLERR;
static const uint32_t CSYS_EPOLLHUP = EPOLLHUP;
static const uint32_t CSYS_EPOLLRDHUP = EPOLLRDHUP;
static const uint32_t CSYS_EPOLLET = EPOLLET;
#endif
