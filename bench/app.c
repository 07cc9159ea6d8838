/* The test app every wrapper runs in `make bench`: static, tiny, default signal handlers.
 *
 *   app [-t FILE] [-s MILLISECONDS] [CODE]
 *
 * -t FILE  at start, write "PID SECONDS.NANOSECONDS\n" (CLOCK_MONOTONIC) to FILE: the moment
 *          the app started, comparable with Python's time.monotonic() in the harness;
 * -s MS    then sleep MS milliseconds (a signal with its default action ends it);
 * CODE     exit with this code (default 0).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const char *stamp_file = NULL;
    long sleep_ms = 0;
    int i = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "-t") == 0)
            stamp_file = argv[i + 1];
        else if (strcmp(argv[i], "-s") == 0)
            sleep_ms = atol(argv[i + 1]);
        else
            break;
    }
    int code = i < argc ? atoi(argv[i]) : 0;

    if (stamp_file) {
        char line[64];
        int n = snprintf(line, sizeof line, "%d %ld.%09ld\n", (int)getpid(), (long)now.tv_sec, now.tv_nsec);
        /* Written to a temporary name and renamed: the harness never reads half a line. */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", stamp_file);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, line, n) != n || close(fd) != 0 || rename(tmp, stamp_file) != 0) {
            perror("app: stamp file");
            return 100;
        }
    }
    if (sleep_ms > 0) {
        struct timespec left = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
        while (nanosleep(&left, &left) != 0)
            ;  /* a handled signal interrupted it: sleep the rest */
    }
    return code;
}
