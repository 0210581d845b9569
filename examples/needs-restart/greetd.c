/* A tiny daemon linking libgreet: forks argv[1] workers, says "ready", sleeps. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int greet_version(void);

static pid_t kids_of[64];
static int nkids;

/* SIGTERM: kill the children and wait for them, so none is left to init. */
static void on_term(int sig) {
    (void)sig;
    for (int i = 0; i < nkids; i++) kill(kids_of[i], SIGKILL);
    while (wait(NULL) > 0 || errno == EINTR) {}
    _exit(0);
}

int main(int argc, char **argv) {
    int workers = argc > 1 ? atoi(argv[1]) : 0;
    if (workers > 64) workers = 64;
    signal(SIGCHLD, SIG_IGN);
    signal(SIGTERM, on_term);
    for (int i = 0; i < workers; i++) {
        pid_t p = fork();
        if (p == 0) {
            signal(SIGTERM, SIG_DFL);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (;;) pause();
        }
        if (p > 0) kids_of[nkids++] = p;
    }
    printf("ready %d (libgreet v%d)\n", (int)getpid(), greet_version());
    fflush(stdout);
    for (;;) pause();
}
