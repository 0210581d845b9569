/* Benchmark herd: forks N small sleeping children (argv[1]) that all map libnrt (linked
 * in), prints "ready PID" and sleeps. SIGTERM ends it and its children, reaped. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int nrt_version(void);

static pid_t kids_of[4096];
static int nkids;

/* SIGTERM: kill the children and wait for them, so none is left to init. */
static void on_term(int sig) {
    (void)sig;
    for (int i = 0; i < nkids; i++) kill(kids_of[i], SIGKILL);
    while (wait(NULL) > 0 || errno == EINTR) {}
    _exit(0);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 0;
    if (n > 4096) n = 4096;
    signal(SIGCHLD, SIG_IGN);
    signal(SIGTERM, on_term);
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0) { perror("fork"); return 1; }
        if (p == 0) {
            signal(SIGTERM, SIG_DFL);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1) _exit(0);
            for (;;) pause();
        }
        kids_of[nkids++] = p;
    }
    printf("ready %d v%d\n", (int)getpid(), nrt_version());
    fflush(stdout);
    for (;;) pause();
}
