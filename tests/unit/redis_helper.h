/*
 * tests/unit/redis_helper.h — start, stop and talk to a private
 * redis-server for tests and benchmarks (header-only; static functions).
 *
 * rh_free_port() binds 127.0.0.1:0, reads the port the kernel chose and
 * closes the socket (redis 7 cannot listen on port 0 itself).
 * rh_start(port) forks `redis-server --port P --bind 127.0.0.1 --save ''
 * --appendonly no`, with its output sent to /dev/null and PR_SET_PDEATHSIG
 * so it dies with the test even when the test crashes, then polls PING
 * (10 ms apart, 10 s at most) until it answers — no fixed sleep.  It returns
 * the pid, or -1 when the server exited or never answered.
 * rh_start_with(port, a1, a2) adds up to two arguments (e.g.
 * "--requirepass", "pw"); then any answer to PING counts (NOAUTH too).
 * rh_stop(pid) kills by pid (SIGCONT first, in case a test stopped it) and
 * reaps it.  rh_command() runs one command on a fresh blocking connection
 * (fine in tests; never on a gateway's loop).
 *
 * Owns: the child processes it starts (the caller keeps the pids).
 * May call: hiredis (blocking API), POSIX, libc.
 */
#ifndef KYZMAT_TESTS_REDIS_HELPER_H
#define KYZMAT_TESTS_REDIS_HELPER_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

static int rh_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* Run one command on a new blocking connection; NULL when the server does
 * not answer within 2 s.  The caller frees the reply (freeReplyObject). */
static redisReply *rh_command(int port, const char *fmt, ...)
{
    struct timeval tv = { 2, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c)
        return NULL;
    if (c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

static int rh_ping(int port)
{
    redisReply *r = rh_command(port, "PING");
    int ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r)
        freeReplyObject(r);
    return ok;
}

/* 1 when the server answers PING at all (a NOAUTH error included). */
static int rh_answers(int port)
{
    redisReply *r = rh_command(port, "PING");
    if (r)
        freeReplyObject(r);
    return r != NULL;
}

/* a1, a2: extra arguments, or NULL. */
static pid_t rh_start_with(int port, const char *a1, const char *a2)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            dup2(nul, 2);
            if (nul > 2)
                close(nul);
        }
        execlp("redis-server", "redis-server", "--port", ps, "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--daemonize", "no", a1, a2,
               (char *)NULL);
        _exit(127);
    }
    struct timespec step = { 0, 10 * 1000 * 1000 };
    for (int i = 0; i < 1000; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return -1;
        if (a1 ? rh_answers(port) : rh_ping(port))
            return pid;
        nanosleep(&step, NULL);     /* poll interval, not a readiness guess */
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static pid_t rh_start(int port)
{
    return rh_start_with(port, NULL, NULL);
}

static void rh_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGCONT);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

#endif
