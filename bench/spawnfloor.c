/* spawnfloor N P prog [args...]
 *
 * The floor for "run N processes, P at a time": keeps P children running with
 * posix_spawn and reaps them with waitpid(-1) until N have run. No pipes, no
 * output capture, no process groups: the cheapest way a parallel map can start
 * and reap its children. Exit status: 0 if every child exited 0, else 1.
 * Build: cc -O2 -o spawnfloor spawnfloor.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: spawnfloor N P prog [args...]\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    long p = strtol(argv[2], NULL, 10);
    if (n < 0 || p < 1) {
        fprintf(stderr, "spawnfloor: bad N or P\n");
        return 2;
    }
    char **cmd = argv + 3;
    long started = 0, running = 0, failed = 0;
    while (started < n || running > 0) {
        while (running < p && started < n) {
            pid_t pid;
            int rc = posix_spawnp(&pid, cmd[0], NULL, NULL, cmd, environ);
            if (rc != 0) {
                fprintf(stderr, "spawnfloor: %s: %s\n", cmd[0], strerror(rc));
                return 2;
            }
            ++started;
            ++running;
        }
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            perror("spawnfloor: waitpid");
            return 2;
        }
        --running;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            ++failed;
    }
    return failed ? 1 : 0;
}
