// Least privilege after setup: the syscalls behind MaelstromTun's PrivilegeDrop, with libcap.
#include "cprivilege.h"

#include <errno.h>
#include <grp.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

int cpriv_forbid_new_privileges(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : -errno;
}

int cpriv_drop_to(const char *user, uid_t uid, gid_t gid, const char **step) {
    // Without CAP_SETPCAP (systemd's bounding set, say) the bounding set stays as it is; the
    // switch of uid below empties the permitted set anyway, and no_new_privs keeps it empty.
    if (CAP_IS_SUPPORTED(CAP_SETPCAP) && cap_get_bound(CAP_SETPCAP) == 1) {
        cap_flag_value_t has = CAP_CLEAR;
        cap_t own = cap_get_proc();
        if (own != NULL) {
            cap_get_flag(own, CAP_SETPCAP, CAP_EFFECTIVE, &has);
            cap_free(own);
        }
        if (has == CAP_SET) {
            for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; cap++) {
                if (cap_get_bound(cap) == 1 && cap_drop_bound(cap) != 0) {
                    *step = "cap_drop_bound";
                    return -errno;
                }
            }
        }
    }
    // Keep-caps off: the uid switch must clear the permitted and effective sets.
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) { *step = "prctl(PR_SET_KEEPCAPS)"; return -errno; }
    // glibc applies set*id to every thread of the process, so threads started before the drop
    // (the Swift runtime's) drop too.
    if (initgroups(user, gid) != 0) { *step = "initgroups"; return -errno; }
    if (setresgid(gid, gid, gid) != 0) { *step = "setresgid"; return -errno; }
    if (setresuid(uid, uid, uid) != 0) { *step = "setresuid"; return -errno; }
    cap_t none = cap_init();
    if (none == NULL) { *step = "cap_init"; return -errno; }
    int result = cap_set_proc(none);
    int saved = errno;
    cap_free(none);
    if (result != 0) { *step = "cap_set_proc"; return -saved; }
    // A process that dropped root must not be able to get it back.
    if (setresuid(0, 0, 0) == 0) { *step = "setresuid(0) still succeeds"; return -EPERM; }
    return 0;
}

int cpriv_capabilities_clear(void) {
    cap_t own = cap_get_proc();
    if (own == NULL) return -errno;
    cap_t none = cap_init();
    if (none == NULL) { int e = errno; cap_free(own); return -e; }
    int differs = cap_compare(own, none);
    cap_free(own);
    cap_free(none);
    return differs == 0 ? 1 : 0;
}
