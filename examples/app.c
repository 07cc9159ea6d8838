/* Example app for the scratch image, built static in Dockerfile.scratch.
 *   /app          prints one line, exits with $APP_EXIT (or 0)
 *   /app wait     also prints "app: got signal N" for every signal it gets
 *                 (all of 1-64 but KILL/STOP), until INT or TERM ends it
 *                 (the tests use this)  */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *code = getenv("APP_EXIT");
    int wait_mode = argc > 1 && strcmp(argv[1], "wait") == 0;
    sigset_t set;
    int sig;
    if (wait_mode) {  /* block before saying hello: a signal sent after it is never lost */
        sigfillset(&set);
        /* musl's sigfillset() leaves out 32-34; 34 is glibc's SIGRTMIN (64-bit) */
        ((unsigned long *)&set)[0] |= 7UL << 31;
        sigprocmask(SIG_BLOCK, &set, NULL);
    }
    printf("app: hello, pid %d\n", (int)getpid());
    fflush(stdout);
    if (wait_mode) {
        do {
            sigwait(&set, &sig);
            printf("app: got signal %d\n", sig);
            fflush(stdout);
        } while (sig != SIGINT && sig != SIGTERM);
    }
    return code ? atoi(code) : 0;
}
