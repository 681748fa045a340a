/* Status table, error formatting, allocation hook, overflow-checked sizes. */
#include "ac_test.h"

#include <string.h>

static void test_status_names(void **state) {
    (void)state;
    assert_string_equal(ac_status_name(AC_OK), "AC_OK");
    assert_string_equal(ac_status_name(AC_ERR_FORMAT), "AC_ERR_FORMAT");
    assert_string_equal(ac_status_message(AC_ERR_NOMEM), "out of memory");
    assert_string_equal(ac_status_name(12345), "AC_ERR_UNKNOWN");
}

static void test_error_format(void **state) {
    (void)state;
    ac_error e;
    char buf[256];
    assert_int_equal(ac_error_set_at(&e, AC_ERR_FORMAT, "data.json", 3, 14, "expected %s", "a string"),
                     AC_ERR_FORMAT);
    assert_string_equal(ac_error_format(&e, buf, sizeof buf), "data.json:3:14: expected a string");
    ac_error_set_offset(&e, AC_ERR_FORMAT, "m.safetensors", 8, "bad\nheader");
    assert_string_equal(ac_error_format(&e, buf, sizeof buf), "m.safetensors: at byte 8: bad header");
    ac_error_set(&e, AC_ERR_IO, NULL, "no such file");
    assert_string_equal(ac_error_format(&e, buf, sizeof buf), "no such file");
    assert_int_equal(ac_error_set(NULL, AC_ERR_IO, NULL, "x"), AC_ERR_IO);
}

static void test_alloc_hook(void **state) {
    (void)state;
    ac_alloc_fail_after(2);
    void *a = ac_malloc(16);
    void *b = ac_malloc(16);
    void *c = ac_malloc(16);
    assert_non_null(a);
    assert_null(b);
    assert_non_null(c);
    assert_int_equal(ac_alloc_fail_after(0), 3);
    ac_free(a);
    ac_free(c);
    assert_null(ac_calloc(SIZE_MAX / 2, 4));
}

static void test_size_overflow(void **state) {
    (void)state;
    size_t r;
    assert_int_equal(ac_mul_size(SIZE_MAX / 2 + 1, 2, &r), -1);
    assert_int_equal(ac_mul_size(1000, 1000, &r), 0);
    assert_int_equal(r, 1000000);
    assert_int_equal(ac_add_size(SIZE_MAX, 1, &r), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_error_format),
        cmocka_unit_test(test_alloc_hook),
        cmocka_unit_test(test_size_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
