/* floor: the least a sidecar-killer can do, as a small static C program (`make bench`).
 *
 *   floor COMMAND [ARG...]
 *
 * 1. wait for GET http://127.0.0.1:15021/healthz/ready to answer 200, paced as
 *    sidecar-killer paces it (refused: next probe 20 ms after the last one started;
 *    any other answer: 100 ms), TERM/INT/HUP/QUIT while waiting: quit, exit 128+N;
 * 2. fork/exec COMMAND with a clean signal mask, become a child subreaper;
 * 3. forward every catchable signal to it, reap every child, until it exits;
 * 4. POST http://127.0.0.1:15020/quitquitquit once (1 s timeout, result ignored);
 * 5. exit with its code, 128+N if signal N killed it; 127/126 if it could not start.
 *
 * No options, no retries, no logs: the physical limit the benchmark compares against.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_PORT 15021
#define QUIT_PORT 15020
#define REFUSED_MS 20
#define ANSWERED_MS 100

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* One request on a fresh connection: the HTTP status, 0 if refused, -1 on other failures. */
static int http(int port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval timeout = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int status = -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        status = errno == ECONNREFUSED ? 0 : -1;
    } else if (write(fd, request, strlen(request)) == (ssize_t)strlen(request)) {
        char buf[512];
        ssize_t got = 0, n;
        while (got < (ssize_t)sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
            got += n;  /* Connection: close: read the answer to its end (or 511 bytes) */
        buf[got] = 0;
        if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1)
            status = -1;
    }
    close(fd);
    return status;
}

static int wait_until_ready(sigset_t *all)
{
    static const char get[] = "GET /healthz/ready HTTP/1.1\r\nHost: 127.0.0.1:15021\r\n"
                              "User-Agent: floor\r\nConnection: close\r\n\r\n";
    for (;;) {
        double start = now();
        int status = http(READY_PORT, get);
        if (status == 200)
            return 0;
        double next = start + (status == 0 ? REFUSED_MS : ANSWERED_MS) / 1000.0;
        double left;
        while ((left = next - now()) > 0) {
            struct timespec t = {(time_t)left, (long)((left - (time_t)left) * 1e9)};
            int sig = sigtimedwait(all, NULL, &t);
            if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT)
                return sig;
        }
    }
}

static void quit_proxy(void)
{
    http(QUIT_PORT, "POST /quitquitquit HTTP/1.1\r\nHost: 127.0.0.1:15020\r\nUser-Agent: floor\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: floor COMMAND [ARG...]\n", stderr);
        return 64;
    }
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    sigdelset(&all, SIGTSTP);
    sigdelset(&all, SIGTTIN);
    sigdelset(&all, SIGTTOU);
    sigprocmask(SIG_BLOCK, &all, NULL);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    int sig = wait_until_ready(&all);
    if (sig) {
        quit_proxy();
        return 128 + sig;
    }

    int exec_error[2];
    if (pipe2(exec_error, O_CLOEXEC) != 0)
        return 70;
    pid_t app = fork();
    if (app < 0)
        return 70;
    if (app == 0) {
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[1], argv + 1);
        int error = errno;
        (void)!write(exec_error[1], &error, sizeof error);
        _exit(127);
    }
    close(exec_error[1]);
    int error = 0, code = -1;
    if (read(exec_error[0], &error, sizeof error) == sizeof error)
        code = error == ENOENT ? 127 : 126;
    close(exec_error[0]);

    int status = 0;
    while (code < 0) {
        struct timespec second = {1, 0};
        sig = sigtimedwait(&all, NULL, &second);
        if (sig > 0 && sig != SIGCHLD)
            kill(app, sig);
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            if (pid == app)
                code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    }
    quit_proxy();
    return code;
}
