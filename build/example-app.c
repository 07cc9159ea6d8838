/* Example app for the scratch image, built static in Dockerfile.scratch.
 *   /app          prints one line, exits with $APP_EXIT (or 0)
 *   /app wait     also prints "app: got signal N" for each HUP/INT/QUIT/USR1/
 *                 USR2/TERM, until INT or TERM ends it (the tests use this)  */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *code = getenv("APP_EXIT");
    printf("app: hello, pid %d\n", (int)getpid());
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "wait") == 0) {
        int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM}, sig;
        sigset_t set;
        sigemptyset(&set);
        for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++)
            sigaddset(&set, sigs[i]);
        sigprocmask(SIG_BLOCK, &set, NULL);
        do {
            sigwait(&set, &sig);
            printf("app: got signal %d\n", sig);
            fflush(stdout);
        } while (sig != SIGINT && sig != SIGTERM);
    }
    return code ? atoi(code) : 0;
}
