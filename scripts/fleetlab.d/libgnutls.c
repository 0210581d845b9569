/* fleetlab: the stand-in for GnuTLS that the lab's daemons link against
 * (built as libgnutls.so.30 into the lab's state dir, installed into each host's
 * overlay under /usr/local/lib/fleetlab, never into this machine's /usr). */
#include <stdio.h>

#ifndef FLEET_LIB_VERSION
#define FLEET_LIB_VERSION "3.7.9-fleetlab"
#endif

const char *gnutls_check_version(const char *req) {
    (void)req;
    return FLEET_LIB_VERSION;
}

int gnutls_global_init(void) { return 0; }
