/* Test-only app for tests/docker, built static into sidecar-killer:test-apps (never into
 * the product image). One behaviour per mode:
 *   /testapp exit N      print "started T" and "exiting T" (T: CLOCK_MONOTONIC, the clock
 *                        the fake sidecar stamps its answers with), exit N
 *   /testapp die N       kill itself with signal N (default action): dies by it
 *   /testapp env         print the environment, one variable per line
 *   /testapp orphans N   leave N orphans (double fork) that exit as soon as they have been
 *                        re-parented, print "orphans left N", then wait for TERM or INT, exit 0 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int n = argc > 2 ? atoi(argv[2]) : 0;
    sigset_t set;
    int sig;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "exit") == 0) {
        printf("started %.6f\n", monotonic());
        printf("exiting %.6f\n", monotonic());
        return n;
    }
    if (strcmp(mode, "die") == 0) {
        signal(n, SIG_DFL);
        sigemptyset(&set);
        sigaddset(&set, n);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        kill(getpid(), n);
        return 1;  /* only if signal n was not fatal */
    }
    if (strcmp(mode, "env") == 0) {
        for (char **e = environ; *e; e++)
            puts(*e);
        return 0;
    }
    if (strcmp(mode, "orphans") == 0) {
        for (int i = 0; i < n; i++) {
            pid_t child = fork();
            if (child == 0) {
                pid_t parent = getpid();
                if (fork() == 0) {
                    while (getppid() == parent)  /* until the subreaper adopted us */
                        usleep(1000);
                    _exit(0);
                }
                _exit(0);
            }
            waitpid(child, NULL, 0);
        }
        printf("orphans left %d\n", n);
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigprocmask(SIG_BLOCK, &set, NULL);
        sigwait(&set, &sig);
        return 0;
    }
    fprintf(stderr, "usage: testapp exit N | die N | env | orphans N\n");
    return 2;
}
