/* ac_ensure_runtime_env: sets OPENBLAS_CORETYPE (AVX-512 only) and OMP_WAIT_POLICY unless
 * the user did, and re-executes the program once so OpenBLAS/libgomp see them. The test
 * runs itself as a child under controlled environments; the child (AC_TEST_PRINT_ENV set)
 * calls the function and prints what its re-executed self sees. */
#include "ac_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char self[1024];

static const char *value(const char *name) {
    const char *v = getenv(name);
    return v ? v : "-";
}

static char *child(const char *env) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "env -u OPENBLAS_CORETYPE -u OMP_WAIT_POLICY -u AC_REEXECED -u AC_NO_REEXEC %s "
             "AC_TEST_PRINT_ENV=1 '%s'",
             env, self);
    char *out = NULL;
    assert_int_equal(ac_test_run(cmd, &out), 0);
    assert_non_null(out);
    return out;
}

static int has_avx512(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return 0;
#endif
}

static void test_sets_and_reexecutes(void **state) {
    (void)state;
    char *out = child("");
    char want[256];
    snprintf(want, sizeof want, "OPENBLAS_CORETYPE=%s OMP_WAIT_POLICY=passive AC_REEXECED=1\n",
             has_avx512() ? "SkylakeX" : "-");
    assert_string_equal(out, want);
    free(out);
}

static void test_keeps_user_values(void **state) {
    (void)state;
    char *out = child("OPENBLAS_CORETYPE=Haswell OMP_WAIT_POLICY=active");
    /* nothing needed setting: no re-exec */
    assert_string_equal(out, "OPENBLAS_CORETYPE=Haswell OMP_WAIT_POLICY=active AC_REEXECED=-\n");
    free(out);
    out = child("OPENBLAS_CORETYPE=Haswell");
    assert_string_equal(out, "OPENBLAS_CORETYPE=Haswell OMP_WAIT_POLICY=passive AC_REEXECED=1\n");
    free(out);
}

static void test_disabled(void **state) {
    (void)state;
    char *out = child("AC_NO_REEXEC=1");
    assert_string_equal(out, "OPENBLAS_CORETYPE=- OMP_WAIT_POLICY=- AC_REEXECED=-\n");
    free(out);
}

int main(int argc, char **argv) {
    (void)argc;
    if (getenv("AC_TEST_PRINT_ENV")) {
        ac_ensure_runtime_env(argv);
        printf("OPENBLAS_CORETYPE=%s OMP_WAIT_POLICY=%s AC_REEXECED=%s\n", value("OPENBLAS_CORETYPE"),
               value("OMP_WAIT_POLICY"), value("AC_REEXECED"));
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sets_and_reexecutes),
        cmocka_unit_test(test_keeps_user_values),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
