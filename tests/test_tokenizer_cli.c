/* autocircuit tokenize: ids, JSON, decode, errors and exit codes. */
#include "test_tokenizer_common.h"

/* Run the CLI with `args` (already shell-quoted); capture stdout (and stderr when
 * `with_stderr`). Returns the exit status; *out is malloc'd. */
static int run_cli(const char *args, int with_stderr, char **out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s%s", ac_test_cli(), args, with_stderr ? " 2>&1" : " 2>/dev/null");
    int rc = ac_test_run(cmd, out);
    print_message("$ autocircuit %s -> %d\n%s", args, rc, *out ? *out : "");
    return rc;
}

static void expect_cli(const char *args, int want_rc, const char *want_out) {
    char *out = NULL;
    int rc = run_cli(args, 0, &out);
    assert_int_equal(rc, want_rc);
    assert_non_null(out);
    assert_string_equal(out, want_out);
    free(out);
}

static void expect_cli_error(const char *args, int want_rc, const char *needle) {
    char *out = NULL;
    int rc = run_cli(args, 1, &out);
    assert_int_equal(rc, want_rc);
    assert_non_null(out);
    assert_true(!strncmp(out, "autocircuit: ", 13));
    if (!strstr(out, needle)) fail_msg("output '%s' lacks '%s'", out, needle);
    /* one line */
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], 0);
    free(out);
}

static void test_gpt2(void **state) {
    (void)state;
    TT_REQUIRE_SHARED(dir, "tokenizers/gpt2");
    char args[2048];
    snprintf(args, sizeof args, "tokenize --tokenizer '%s' ' The capital of France is' "
             "'<|endoftext|>'", dir);
    expect_cli(args, 0, "383 3139 286 4881 318\n50256\n");
    snprintf(args, sizeof args, "tokenize --json -t '%s' ' The capital of France is' "
             "'<|endoftext|>'", dir);
    expect_cli(args, 0, "{\"ids\": [[383, 3139, 286, 4881, 318], [50256]]}\n");
    snprintf(args, sizeof args, "tokenize -t '%s' --decode 383,3139,286,4881,318", dir);
    expect_cli(args, 0, " The capital of France is\n");
    snprintf(args, sizeof args, "tokenize -t '%s' --json --decode '15496, 995' -d 198,1", dir);
    expect_cli(args, 0, "{\"texts\": [\"Hello world\", \"\\n\\\"\"]}\n");
    snprintf(args, sizeof args, "tokenize -t '%s' -- -5 ''", dir);
    expect_cli(args, 0, "12 20\n\n");
    snprintf(args, sizeof args, "tokenize -t '%s' --bos hi", dir);
    expect_cli(args, 0, "50256 5303\n");
    /* the HF model directory route */
    snprintf(args, sizeof args, "tokenize --model '%s' ' The'", dir);
    expect_cli(args, 0, "383\n");
    /* errors */
    snprintf(args, sizeof args, "tokenize -t '%s' --decode 383,50257", dir);
    expect_cli_error(args, AC_ERR_RANGE, "outside the vocabulary");
    snprintf(args, sizeof args, "tokenize -t '%s' --decode 383,x", dir);
    expect_cli_error(args, AC_ERR_ARG, "'383,x'");
    snprintf(args, sizeof args, "tokenize -t '%s' --decode 383, ", dir);
    expect_cli_error(args, AC_ERR_ARG, "--decode");
    snprintf(args, sizeof args, "tokenize -t '%s' --decode 1 text", dir);
    expect_cli_error(args, AC_ERR_ARG, "not both");
}

static void test_stories(void **state) {
    (void)state;
    TT_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
    char args[2048];
    snprintf(args, sizeof args, "tokenize --model '%s' --bos 'Once upon a time'", model);
    expect_cli(args, 0, "1 403 407 261 378\n");
    snprintf(args, sizeof args, "tokenize -m '%s' -d 1,403,407,261,378", model);
    expect_cli(args, 0, "Once upon a time\n");
    snprintf(args, sizeof args, "tokenize -m '%s' --json 'Once upon a time' a", model);
    expect_cli(args, 0, "{\"ids\": [[403, 407, 261, 378], [261]]}\n");
}

static void test_usage_and_errors(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(run_cli("tokenize --help", 0, &out), 0);
    static const char *const options[] = {"--model", "--tokenizer", "--json", "--decode", "--bos",
                                          "--help"};
    for (size_t i = 0; i < sizeof options / sizeof *options; i++)
        assert_non_null(strstr(out, options[i]));
    free(out);
    assert_int_equal(run_cli("--help", 0, &out), 0);
    assert_non_null(strstr(out, "tokenize"));
    free(out);
    expect_cli_error("tokenize x", AC_ERR_ARG, "exactly one of --model PATH or --tokenizer PATH");
    expect_cli_error("tokenize -t a -m b x", AC_ERR_ARG, "exactly one");
    expect_cli_error("tokenize -t /no/such/tokenizer x", AC_ERR_IO,
                     "autocircuit: /no/such/tokenizer: cannot open: No such file or directory");
    expect_cli_error("tokenize -m /no/such/model.bin x", AC_ERR_IO, "/no/such/model.bin");
    expect_cli_error("tokenize -t /tmp --bogus x", AC_ERR_ARG, "unknown option '--bogus'");
    expect_cli_error("tokenize -t", AC_ERR_ARG, "needs a value");
    expect_cli_error("tokenize -t /tmp", AC_ERR_ARG, "nothing to do");
    /* a malformed tokenizer: the file and the cause */
    const char *path = ac_test_path(ac_test_tmpdir(), "bad-tokenizer.json");
    tt_write_text(path, "{\"model\": {\"type\": \"WordPiece\"}}");
    char args[1200];
    snprintf(args, sizeof args, "tokenize -t '%s' x", path);
    expect_cli_error(args, AC_ERR_UNSUPPORTED, "bad-tokenizer.json: model type 'WordPiece'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_and_errors),
        cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_stories),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
