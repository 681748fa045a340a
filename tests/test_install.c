/* `make install` (cmake --install) puts the library, headers, man page, pkg-config file,
 * models and datasets in place, and a program built with `pkg-config --cflags --libs
 * autocircuit` against the installed copy compiles, links and runs. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ac_test.h"

static char prefix[256];

static int exists(const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", prefix, rel);
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_install_and_link(void **state) {
    (void)state;
    char cli[1024], cmd[4096], *out = NULL;
    snprintf(cli, sizeof cli, "%s", ac_test_cli());
    const char *build = dirname(cli);
    snprintf(cmd, sizeof cmd, "cmake --install '%s' --prefix '%s' 2>&1", build, prefix);
    if (ac_test_run(cmd, &out) != 0) fail_msg("install failed:\n%s", out);
    free(out);
    assert_true(exists("bin/autocircuit"));
    assert_true(exists("include/autocircuit.h"));
    assert_true(exists("include/autocircuit/algos.h"));
    assert_true(exists("share/man/man1/autocircuit.1"));
    assert_true(exists("share/autocircuit/models/induction/model.safetensors"));
    assert_true(exists("share/autocircuit/datasets/induction.json"));
    const char *libdirs[] = {"lib", "lib64", "lib/x86_64-linux-gnu"};
    const char *libdir = NULL;
    for (int i = 0; i < 3 && !libdir; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "%s/pkgconfig/autocircuit.pc", libdirs[i]);
        if (exists(rel)) libdir = libdirs[i];
    }
    assert_non_null(libdir);

    char src[512], bin[512];
    snprintf(src, sizeof src, "%s/user.c", prefix);
    snprintf(bin, sizeof bin, "%s/user", prefix);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    fputs("#include <autocircuit.h>\n#include <stdio.h>\n"
          "int main(void) {\n"
          "    ac_config c = {0};\n"
          "    c.n_layer = 12; c.n_head = 12; c.n_kv_head = 12; c.d_model = 768; c.d_head = 64;\n"
          "    c.d_mlp = 3072; c.vocab_size = 50257; c.n_ctx = 1024;\n"
          "    ac_graph *g; ac_error err;\n"
          "    if (ac_graph_build(&g, &c, NULL, &err)) return 1;\n"
          "    printf(\"%s %zu\\n\", AC_VERSION, g->n_edges);\n"
          "    ac_graph_free(g);\n"
          "    return 0;\n"
          "}\n",
          f);
    fclose(f);
    const char *san =
#if defined(__SANITIZE_ADDRESS__)
        "-fsanitize=address,undefined";
#elif defined(AC_TEST_COVERAGE)
        "--coverage";
#else
        "";
#endif
    /* under coverage the program's counters go to its own directory, not over the suite's */
    const char *run_env =
#if defined(AC_TEST_COVERAGE)
        "GCOV_PREFIX=\"$PWD/gcov\" ";
#else
        "";
#endif
    snprintf(cmd, sizeof cmd,
             "export PKG_CONFIG_PATH='%s/%s/pkgconfig'; cd '%s' && cc %s '%s' -o '%s' $(pkg-config --cflags --libs --static "
             "autocircuit) 2>&1 && %s'%s'",
             prefix, libdir, prefix, san, src, bin, run_env, bin);
    int rc = ac_test_run(cmd, &out);
    if (rc != 0) fail_msg("build against the installed library failed (%d):\n%s", rc, out);
    char want[64];
    snprintf(want, sizeof want, "%s 32491\n", AC_VERSION); /* GPT-2 small's edge count */
    assert_string_equal(out, want);
    free(out);
}

int main(void) {
    snprintf(prefix, sizeof prefix, "/tmp/ac_install_test.XXXXXX");
    if (!mkdtemp(prefix)) return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_install_and_link)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", prefix);
    if (system(cmd) != 0 && rc == 0) rc = 1;
    return rc;
}
