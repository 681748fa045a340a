/* The committed man page docs/autocircuit.1 equals what scripts/gen-man.sh makes from
 * the CLI's --help texts, so the page and the program never disagree; and every command
 * of `autocircuit --help` has a --help of its own that exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ac_test.h"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = 0;
    fclose(f);
    return buf;
}

static void test_man_page_up_to_date(void **state) {
    (void)state;
    char cmd[4096], path[2048];
    snprintf(cmd, sizeof cmd, "'%s/scripts/gen-man.sh' '%s'", ac_test_source_dir(), ac_test_cli());
    char *gen = NULL;
    assert_int_equal(ac_test_run(cmd, &gen), 0);
    snprintf(path, sizeof path, "%s/docs/autocircuit.1", ac_test_source_dir());
    char *committed = read_file(path);
    assert_non_null(committed);
    if (strcmp(gen, committed) != 0)
        fail_msg("docs/autocircuit.1 is out of date: run scripts/gen-man.sh build/autocircuit > docs/autocircuit.1");
    /* a page that documents nothing would also be "up to date": check content */
    assert_non_null(strstr(gen, ".SH \"DISCOVER\""));
    assert_non_null(strstr(gen, "--algo NAME"));
    free(gen);
    free(committed);
}

static void test_every_command_has_help(void **state) {
    (void)state;
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' --help", ac_test_cli());
    assert_int_equal(ac_test_run(cmd, &out), 0);
    char *p = strstr(out, "commands:\n");
    assert_non_null(p);
    int n = 0;
    for (char *line = strchr(p, '\n') + 1; *line == ' '; line = strchr(line, '\n') + 1) {
        char name[64];
        assert_int_equal(sscanf(line, " %63s", name), 1);
        snprintf(cmd, sizeof cmd, "'%s' %s --help", ac_test_cli(), name);
        char *h = NULL;
        assert_int_equal(ac_test_run(cmd, &h), 0);
        if (!strstr(h, "usage: autocircuit")) fail_msg("'%s --help' prints no usage line", name);
        free(h);
        n++;
    }
    assert_true(n >= 10);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_man_page_up_to_date),
        cmocka_unit_test(test_every_command_has_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
