/* fleetlab: the lab's daemons, one program in several roles (installed under a name per
 * role, so each unit has its own executable). Each links the lab's libgnutls.so.30 and
 * logs "ROLE: start pid=N" / "ROLE: stop pid=N" on stderr (the journal under systemd).
 *
 *   fleetd simple                    run until SIGTERM
 *   fleetd forking PIDFILE WORKERS   a master that daemonizes, writes PIDFILE and keeps
 *                                    WORKERS children
 *   fleetd socket                    socket-activated: serves the listening fd 3
 *   fleetd notify READYFILE MS       Type=notify: READY=1 and READYFILE after MS ms
 *   fleetd needs READYFILE           refuses to start (exit 1) unless READYFILE exists
 *   fleetd client HOST PORT          connect, print the reply (not a daemon)
 *   fleetd sysv PIDFILE              a SysV daemon: forks, writes PIDFILE (init.d script)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *gnutls_check_version(const char *req);
int gnutls_global_init(void);

static const char *role = "fleetd";
static const char *ready_file;
static volatile sig_atomic_t stop;

static void on_term(int sig) { (void)sig; stop = 1; }

static void say(const char *what) {
    fprintf(stderr, "%s: %s pid=%d lib=%s\n", role, what, (int)getpid(), gnutls_check_version(NULL));
}

static void handle_term(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static int wait_for_stop(void) {
    while (!stop) pause();
    if (ready_file) unlink(ready_file);
    say("stop");
    return 0;
}

static void sd_notify_ready(void) {
    const char *p = getenv("NOTIFY_SOCKET");
    if (!p || !*p) return;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t n = strlen(p);
    if (n >= sizeof sa.sun_path) return;
    memcpy(sa.sun_path, p, n);
    if (sa.sun_path[0] == '@') sa.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    const char msg[] = "READY=1";
    sendto(fd, msg, sizeof msg - 1, 0, (struct sockaddr *)&sa,
           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    close(fd);
}

static int write_file(const char *path, long value) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "%ld\n", value);
    return fclose(f);
}

static int forking(const char *pidfile, int workers, int detach_only_sysv) {
    int pfd[2];
    if (pipe(pfd) < 0) return 1;
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid > 0) { /* the starter: exit when the master is ready */
        char c;
        close(pfd[1]);
        return read(pfd[0], &c, 1) == 1 ? 0 : 1;
    }
    close(pfd[0]);
    setsid();
    handle_term();
    /* a daemon lets go of its starter's stdin and stdout (an ssh session waits for them);
       stderr stays: the journal, or the log the init script opened */
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); if (devnull > 2) close(devnull); }
    for (int i = 0; i < workers; i++) {
        pid_t w = fork();
        if (w == 0) {
            close(pfd[1]);
            role = detach_only_sysv ? role : "fl-forking-worker";
            say("worker start");
            while (!stop) pause();
            _exit(0);
        }
    }
    if (write_file(pidfile, (long)getpid()) != 0) return 1;
    say("start");
    if (write(pfd[1], "r", 1) != 1) return 1;
    close(pfd[1]);
    while (!stop) {
        pause();
        while (waitpid(-1, NULL, WNOHANG) > 0) {}
    }
    kill(0, SIGTERM);
    unlink(pidfile);
    say("stop");
    return 0;
}

static int socket_served(void) {
    /* systemd passes the listening socket as fd 3 (LISTEN_FDS=1) */
    const char *n = getenv("LISTEN_FDS");
    if (!n || atoi(n) < 1) { fprintf(stderr, "%s: no LISTEN_FDS\n", role); return 1; }
    handle_term();
    say("start");
    while (!stop) {
        int c = accept(3, NULL, NULL);
        if (c < 0) { if (errno == EINTR) continue; break; }
        char buf[128];
        int len = snprintf(buf, sizeof buf, "%s %s\n", role, gnutls_check_version(NULL));
        if (write(c, buf, (size_t)len) < 0) {}
        close(c);
    }
    say("stop");
    return 0;
}

static int client(const char *host, const char *port) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)atoi(port));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return 64;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
    char buf[256];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)r, stdout);
    return 0;
}

int main(int argc, char **argv) {
    const char *base = strrchr(argv[0], '/');
    role = base ? base + 1 : argv[0];
    if (argc < 2) { fprintf(stderr, "usage: fleetd ROLE ARGS...\n"); return 64; }
    gnutls_global_init();
    const char *mode = argv[1];
    if (!strcmp(mode, "client") && argc == 4) return client(argv[2], argv[3]);
    if (!strcmp(mode, "simple")) { handle_term(); say("start"); return wait_for_stop(); }
    if (!strcmp(mode, "forking") && argc == 4) return forking(argv[2], atoi(argv[3]), 0);
    if (!strcmp(mode, "sysv") && argc == 3) return forking(argv[2], 0, 1);
    if (!strcmp(mode, "socket")) return socket_served();
    if (!strcmp(mode, "notify") && argc == 4) {
        handle_term();
        ready_file = argv[2];
        say("start");
        struct timespec ts = {atoi(argv[3]) / 1000, (atoi(argv[3]) % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (write_file(ready_file, (long)getpid()) != 0) return 1;
        sd_notify_ready();
        say("ready");
        return wait_for_stop();
    }
    if (!strcmp(mode, "needs") && argc == 3) {
        if (access(argv[2], F_OK) != 0) {
            fprintf(stderr, "%s: refusing to start: %s is missing (started before its dependency was ready)\n", role, argv[2]);
            return 1;
        }
        handle_term();
        say("start");
        return wait_for_stop();
    }
    fprintf(stderr, "fleetd: unknown role or arguments: %s\n", mode);
    return 64;
}
