/* A shared library the demo "upgrades" (GREET_VERSION 1, then 2). */
#ifndef GREET_VERSION
#define GREET_VERSION 1
#endif
int greet_version(void) { return GREET_VERSION; }
