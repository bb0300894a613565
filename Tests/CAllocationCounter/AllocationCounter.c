#define _GNU_SOURCE
#include "CAllocationCounter.h"
#include <stddef.h>
#include <errno.h>

static __thread int counting;
static __thread uint64_t allocations;

void allocation_counter_start(void) { allocations = 0; counting = 1; }
uint64_t allocation_counter_stop(void) { counting = 0; return allocations; }

static inline void count_one(void) { if (counting) allocations++; }

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ALLOCATION_COUNTER_SANITIZED 1
#endif
#endif

#ifdef ALLOCATION_COUNTER_SANITIZED
/* Under a sanitizer the allocator is the sanitizer's, and defining malloc would take it away;
 * its allocator hooks see every allocation instead, so the zero-allocation checks still run. */
#include <sanitizer/allocator_interface.h>

static void on_malloc(const volatile void *pointer, size_t size) { (void)pointer; (void)size; count_one(); }
static void on_free(const volatile void *pointer) { (void)pointer; }

__attribute__((constructor)) static void install_hooks(void) { __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free); }
#else
/* glibc's own entry points; defining malloc here (in the executable) takes precedence for
 * every shared library of the process, so the real allocator must be reached by these names. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

void *malloc(size_t size) { count_one(); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { count_one(); return __libc_calloc(count, size); }
void *realloc(void *pointer, size_t size) { count_one(); return __libc_realloc(pointer, size); }
void *memalign(size_t alignment, size_t size) { count_one(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count_one(); return __libc_memalign(alignment, size); }
int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    count_one();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL && size != 0) return ENOMEM;
    *result = pointer;
    return 0;
}
#endif
