#ifndef C_ALLOCATION_COUNTER_H
#define C_ALLOCATION_COUNTER_H
/* Counts heap allocations made by the calling thread between start and stop.
 * The test binary's own malloc family forwards to glibc and counts while enabled, so
 * the zero-allocation checks see every allocation, whoever makes it. */
#include <stdint.h>

void allocation_counter_start(void);
uint64_t allocation_counter_stop(void);

#endif
