#ifndef CPRIVILEGE_H
#define CPRIVILEGE_H

#include <sys/types.h>

/// Sets no_new_privs: no later execve can gain privileges (setuid binaries, file capabilities).
/// Returns 0, or -errno.
int cpriv_forbid_new_privileges(void);

/// Drops every capability from the bounding set (where the process may: it needs CAP_SETPCAP),
/// then switches the whole process to the account's groups, gid and uid, then clears this
/// thread's remaining capability sets. Returns 0, or -errno of the step that failed, with *step
/// naming it.
int cpriv_drop_to(const char *user, uid_t uid, gid_t gid, const char **step);

/// 1 when this thread holds no effective, permitted or inheritable capability (libcap's view),
/// 0 when it holds some, -errno when the sets cannot be read.
int cpriv_capabilities_clear(void);

#endif
