/*
 * scripts/nodelay.c — LD_PRELOAD shim for the Kannel baseline
 * (scripts/bench-kannel.sh): Kannel 1.4.5 never sets TCP_NODELAY, so its
 * small SMPP PDUs and HTTP requests wait for Nagle + delayed ACK (~40 ms
 * steps).  This shim measures Kannel as it would run with that one socket
 * option fixed.
 *
 * What it does: wraps connect(), accept() and accept4(); after the real
 * call succeeds (or a non-blocking connect() is in progress, EINPROGRESS)
 * on a TCP socket (AF_INET/AF_INET6, SOCK_STREAM), it sets TCP_NODELAY on
 * that socket.  Errors of setsockopt are ignored: the call's own result and
 * errno are returned unchanged.  Non-TCP sockets (Unix, UDP) are left alone.
 *
 * Build: cc -shared -fPIC -O2 -o nodelay.so scripts/nodelay.c -ldl
 * Use:   LD_PRELOAD=/path/nodelay.so bearerbox kannel.conf
 *
 * Owns: nothing (the real functions are looked up once with dlsym).
 * May call: libc, libdl.  Not part of kyzmat itself.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

typedef int connect_fn(int, const struct sockaddr *, socklen_t);
typedef int accept_fn(int, struct sockaddr *, socklen_t *);
typedef int accept4_fn(int, struct sockaddr *, socklen_t *, int);

/* Exported: the dynamic linker resolves the program's calls to these. */
int connect(int fd, const struct sockaddr *addr, socklen_t len);
int accept(int fd, struct sockaddr *addr, socklen_t *len);
int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

static void set_nodelay(int fd)
{
    int saved = errno;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
        (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) &&
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
        type == SOCK_STREAM) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    errno = saved;
}

/* The next definition of `name` after ours (libc's), looked up once into
 * *slot.  NULL with errno ENOSYS when there is none. */
static void *real_fn(void **slot, const char *name)
{
    if (!*slot)
        *slot = dlsym(RTLD_NEXT, name);
    if (!*slot)
        errno = ENOSYS;
    return *slot;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    static void *slot;
    connect_fn *real;
    *(void **)&real = real_fn(&slot, "connect");
    if (!real)
        return -1;
    int rc = real(fd, addr, len);
    if (rc == 0 || errno == EINPROGRESS)
        set_nodelay(fd);
    return rc;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    static void *slot;
    accept_fn *real;
    *(void **)&real = real_fn(&slot, "accept");
    if (!real)
        return -1;
    int rc = real(fd, addr, len);
    if (rc >= 0)
        set_nodelay(rc);
    return rc;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    static void *slot;
    accept4_fn *real;
    *(void **)&real = real_fn(&slot, "accept4");
    if (!real)
        return -1;
    int rc = real(fd, addr, len, flags);
    if (rc >= 0)
        set_nodelay(rc);
    return rc;
}
