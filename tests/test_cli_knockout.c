/* autocircuit knockout end to end on the shipped ioi-trained model: the knockout file's
 * fields against the library's evaluation, the ground-truth forms, bad inputs, and the
 * report's completeness and similarity sections. */
#include "ac_test.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char model[1024], data[1024], imodel[1024], idata[1024];
static const char *DATA = "--train-test 16,0 --batch-size 8";

static const char *tmp(const char *name) { return ac_test_path(ac_test_tmpdir(), name); }

static int run_cli(const char *args, char **out, char **errout) {
    return ac_test_run_cli(args, out, errout);
}

static int setup(void **state) {
    (void)state;
    const char *src = ac_test_source_dir();
    if (!src) return 0;
    snprintf(model, sizeof model, "%s/models/ioi-trained", src);
    snprintf(data, sizeof data, "%s/datasets/ioi-trained.json", src);
    snprintf(imodel, sizeof imodel, "%s/models/induction", src);
    snprintf(idata, sizeof idata, "%s/datasets/induction.json", src);
    return 0;
}

static void need_source(void) {
    if (!ac_test_source_dir()) skip();
}

static json_t *load(const char *path) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) print_message("%s: %s\n", path, je.text);
    assert_non_null(j);
    return j;
}

static double num(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    assert_non_null(v);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void test_knockout_end_to_end(void **state) {
    (void)state;
    need_source();
    char args[4096];
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' %s --quiet --no-timing --out '%s'", model, data, DATA,
             tmp("eap.json"));
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' %s --algo random --quiet --no-timing --out '%s'",
             model, data, DATA, tmp("random.json"));
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args,
             "knockout --model '%s' --data '%s' %s --scores '%s' --edges 30 --epochs 8 --lr 0.1 --no-timing --out '%s'",
             model, data, DATA, tmp("eap.json"), tmp("ko.json"));
    char *out = NULL;
    assert_int_equal(run_cli(args, &out, NULL), 0);
    assert_non_null(strstr(out, "learned K"));
    assert_non_null(strstr(out, "wrote"));
    free(out);
    json_t *j = load(tmp("ko.json"));
    assert_string_equal(json_string_value(json_object_get(j, "format")), "autocircuit-knockout");
    assert_int_equal(json_integer_value(json_object_get(j, "circuit_size_requested")), 30);
    const size_t size = (size_t)json_integer_value(json_object_get(j, "circuit_size"));
    assert_true(size >= 30);
    const json_t *circ = json_object_get(j, "circuit"), *ko = json_object_get(j, "knockouts");
    assert_int_equal(json_array_size(circ), size);
    const size_t nk = (size_t)json_integer_value(json_object_get(j, "n_knockouts"));
    assert_int_equal(json_array_size(ko), nk);
    size_t flagged = 0;
    for (size_t i = 0; i < size; i++) flagged += json_is_true(json_object_get(json_array_get(circ, i), "knocked_out"));
    assert_int_equal(flagged, nk);
    for (size_t i = 0; i + 1 < nk; i++) /* by descending score */
        assert_true(num(json_array_get(ko, i), "score") >= num(json_array_get(ko, i + 1), "score"));
    const json_t *empty = json_object_get(j, "empty");
    assert_true(num(empty, "kl") == num(j, "kl"));
    assert_true(num(empty, "knockout_kl") == num(empty, "kl"));
    assert_int_equal(json_integer_value(json_object_get(empty, "n_knockouts")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "loss")), 8);
    const json_t *st = json_object_get(j, "settings");
    assert_string_equal(json_string_value(json_object_get(st, "algo")), "eap");
    assert_null(json_object_get(st, "seconds"));
    assert_int_equal(json_integer_value(json_object_get(st, "epochs")), 8);
    /* KL(M ‖ C) is evaluate's tree-patching KL at 30 edges */
    snprintf(args, sizeof args,
             "evaluate --model '%s' --data '%s' %s --scores '%s' --patch tree --edge-counts 30 --quiet --out '%s'", model,
             data, DATA, tmp("eap.json"), tmp("curve.json"));
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    json_t *cv = load(tmp("curve.json"));
    const json_t *pts = json_object_get(cv, "points");
    int found = 0;
    for (size_t i = 0; i < json_array_size(pts); i++) {
        const json_t *p = json_array_get(pts, i);
        if (json_integer_value(json_object_get(p, "edges")) == (json_int_t)size) {
            assert_close(num(p, "kl"), num(j, "kl"), 1e-9, 1e-6);
            found = 1;
        }
    }
    assert_true(found);
    json_decref(cv);
    /* determinism: the same run gives the same bytes */
    snprintf(args, sizeof args,
             "knockout --model '%s' --data '%s' %s --scores '%s' --edges 30 --epochs 8 --lr 0.1 --no-timing --quiet "
             "--out '%s'",
             model, data, DATA, tmp("eap.json"), tmp("ko2.json"));
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    char *a = NULL, *b = NULL;
    snprintf(args, sizeof args, "cat '%s'", tmp("ko.json"));
    assert_int_equal(ac_test_run(args, &a), 0);
    snprintf(args, sizeof args, "cat '%s'", tmp("ko2.json"));
    assert_int_equal(ac_test_run(args, &b), 0);
    assert_string_equal(a, b);
    free(a), free(b);
    json_decref(j);

    /* the report: completeness and similarity sections */
    snprintf(args, sizeof args,
             "report --scores '%s' --knockout '%s' --similar '%s' --similarity-top 5,10 --out '%s'", tmp("eap.json"),
             tmp("ko.json"), tmp("random.json"), tmp("report.html"));
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "cat '%s'", tmp("report.html"));
    char *html = NULL;
    assert_int_equal(ac_test_run(args, &html), 0);
    assert_non_null(strstr(html, "<section id=\"completeness\">"));
    assert_non_null(strstr(html, "Completeness (same under knockouts)"));
    assert_non_null(strstr(html, "<section id=\"similarity\">"));
    assert_non_null(strstr(html, "data-metric=\"knockouts\""));
    assert_non_null(strstr(html, "top-5"));
    assert_null(strstr(html, "<script"));
    free(html);
    snprintf(args, sizeof args, "report --scores '%s' --knockout '%s' --out '%s'", tmp("eap.json"), tmp("eap.json"),
             tmp("bad.html"));
    char *err = NULL;
    assert_int_not_equal(run_cli(args, NULL, &err), 0);
    assert_non_null(strstr(err, "autocircuit-knockout"));
    free(err);
}

static void test_knockout_ground_truth_and_errors(void **state) {
    (void)state;
    need_source();
    char args[4096], *err = NULL;
    /* a ground truth alone is the circuit; with --scores it gives the size */
    snprintf(args, sizeof args,
             "knockout --model '%s' --data '%s' --no-bos --train-test 16,0 --batch-size 16 --ground-truth '%s/ground_truth.json' "
             "--epochs 3 --quiet --out '%s'",
             imodel, idata, imodel, tmp("iko.json"));
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    json_t *j = load(tmp("iko.json"));
    assert_int_equal(json_integer_value(json_object_get(j, "circuit_size")), 5);
    assert_true(json_is_null(json_object_get(j, "circuit_size_requested")));
    assert_true(num(j, "kl") < 1e-6);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "settings"), "algo")), "ground-truth");
    json_decref(j);
    snprintf(args, sizeof args, "discover --model '%s' --data '%s' --no-bos --train-test 16,0 --quiet --out '%s'", imodel,
             idata, tmp("ieap.json"));
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args,
             "knockout --model '%s' --data '%s' --no-bos --train-test 16,0 --scores '%s' --ground-truth "
             "'%s/ground_truth.json' --epochs 2 --quiet --out '%s'",
             imodel, idata, tmp("ieap.json"), imodel, tmp("iko2.json"));
    assert_int_equal(run_cli(args, NULL, NULL), 0);
    j = load(tmp("iko2.json"));
    assert_int_equal(json_integer_value(json_object_get(j, "circuit_size_requested")), 5);
    json_decref(j);

    /* the report's similarity needs scores files of one graph */
    snprintf(args, sizeof args, "report --scores '%s' --similar '%s' --out '%s'", tmp("eap.json"), tmp("ieap.json"),
             tmp("x.html"));
    assert_int_not_equal(run_cli(args, NULL, &err), 0);
    assert_non_null(strstr(err, "not the same graph"));
    free(err);
    /* scores for another graph */
    snprintf(args, sizeof args, "knockout --model '%s' --data '%s' %s --scores '%s' --edges 3 --out '%s'", model, data,
             DATA, tmp("ieap.json"), tmp("x.json"));
    assert_int_not_equal(run_cli(args, NULL, &err), 0);
    assert_non_null(strstr(err, "another model's graph"));
    assert_null(strchr(strchr(err, '\n') + 1, '\n')); /* one line */
    free(err);
    /* a missing scores file */
    snprintf(args, sizeof args, "knockout --model '%s' --data '%s' %s --scores '%s' --edges 3", model, data, DATA,
             tmp("missing.json"));
    assert_int_not_equal(run_cli(args, NULL, &err), 0);
    assert_non_null(strstr(err, "missing.json"));
    free(err);
    /* usage errors */
    snprintf(args, sizeof args, "knockout --model '%s' --data '%s' --scores '%s'", imodel, idata, tmp("ieap.json"));
    assert_int_equal(run_cli(args, NULL, &err), AC_ERR_ARG);
    assert_non_null(strstr(err, "--edges N"));
    free(err);
    snprintf(args, sizeof args, "knockout --model '%s' --data '%s' --no-bos --scores '%s' --edges 1000 --out '%s'",
             imodel, idata, tmp("ieap.json"), tmp("x.json"));
    assert_int_not_equal(run_cli(args, NULL, &err), 0);
    assert_non_null(strstr(err, "edges"));
    free(err);
    snprintf(args, sizeof args, "knockout --model '%s' --data '%s' --ground-truth x --lr -1", imodel, idata);
    assert_int_equal(run_cli(args, NULL, &err), AC_ERR_ARG);
    free(err);
    FILE *f = fopen(tmp("x.json"), "r");
    assert_null(f); /* nothing written on errors */
    char *help = NULL;
    assert_int_equal(run_cli("knockout --help", &help, NULL), 0);
    assert_non_null(strstr(help, "same under knockouts"));
    free(help);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_knockout_end_to_end),
        cmocka_unit_test(test_knockout_ground_truth_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
