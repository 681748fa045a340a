/* libFuzzer entry point of one harness: built once per harness with
 * -DFZ_TARGET=fz_NAME (see CMakeLists.txt, option AC_FUZZ). */
#include <stddef.h>
#include <stdint.h>

#include "fz.h"

#ifndef FZ_TARGET
#error "define FZ_TARGET as the harness function, e.g. -DFZ_TARGET=fz_safetensors"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return FZ_TARGET(data, size); }
