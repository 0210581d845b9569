/* fleetlab: PID 1 of a plain-init host (no systemd): start what /etc/init.d says
 * (sshd and fleet-sysvd, through their init scripts), then reap orphans until SIGTERM,
 * when it stops them and exits. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static int run(const char *cmd) {
    pid_t p = fork();
    if (p == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while (waitpid(p, &st, 0) < 0) {}
    return st;
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    run("for s in ssh fleet-sysvd; do [ -x /etc/init.d/$s ] && /etc/init.d/$s start; done");
    fprintf(stderr, "fleet-init: up\n");
    while (!stop) {
        pid_t p = wait(NULL);
        if (p < 0) pause();
    }
    run("for s in fleet-sysvd ssh; do [ -x /etc/init.d/$s ] && /etc/init.d/$s stop; done");
    return 0;
}
