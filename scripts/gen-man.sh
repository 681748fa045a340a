#!/usr/bin/env bash
# Generate the man page autocircuit.1 from the CLI's own --help texts, so the two never
# disagree. Usage: scripts/gen-man.sh PATH/TO/autocircuit > docs/autocircuit.1
# (tests/test_man_page.c checks the committed page equals this output).
set -euo pipefail
cli=${1:?usage: gen-man.sh PATH/TO/autocircuit}
export AC_NO_REEXEC=1
version=$("$cli" --version | awk '{print $2}')

roff_escape() { sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\&'/" -e 's/^-/\\-/'; }

cat <<HDR
.TH AUTOCIRCUIT 1 "" "autocircuit $version" "User Commands"
.SH NAME
autocircuit \\- automated circuit discovery in transformer language models
.SH SYNOPSIS
.B autocircuit
.I COMMAND
.RI [ OPTIONS ]
.SH DESCRIPTION
.B autocircuit
loads a transformer checkpoint (Hugging Face GPT-2, Llama, Mistral, Qwen2 directories or
llama2.c files) and a dataset of clean/corrupt prompt pairs, scores every edge of the
model's circuit graph (attribution patching, integrated gradients, ACDC, exact patching,
learned masks, baselines), evaluates the circuits made of the best edges and writes JSON
results and HTML reports. It reproduces the numbers of the Python library auto-circuit.
.SH COMMANDS
.nf
HDR
"$cli" --help | sed -n '/^commands:/,/^$/p' | sed '1d;/^$/d' | roff_escape
echo ".fi"
for cmd in $("$cli" --help | sed -n '/^commands:/,/^$/p' | sed '1d;/^$/d' | awk '{print $1}'); do
    echo ".SH \"$(echo "$cmd" | tr a-z A-Z)\""
    echo ".nf"
    "$cli" "$cmd" --help 2>&1 | roff_escape
    echo ".fi"
done
cat <<'FTR'
.SH ENVIRONMENT
.TP
.B OPENBLAS_CORETYPE
On AVX-512 machines the program re-executes itself once with OPENBLAS_CORETYPE=SkylakeX
(OpenBLAS otherwise picks slower AVX2 kernels); a value you set is kept.
.TP
.B OMP_NUM_THREADS
Number of threads (default: all cores).
.TP
.B AC_NO_REEXEC
Set to 1 to disable the re-execution.
.SH EXIT STATUS
0 on success; otherwise the library status code: 2 invalid argument, 3 input/output
error, 4 malformed input, 5 out of memory, 6 unsupported, 7 shape mismatch, 8 value out
of range, 9 interrupted, 10 internal error; 130 when interrupted by SIGINT.
.SH FILES
Result file schemas: docs/schemas.md in the source tree.
.SH SEE ALSO
The README and docs/ of the source distribution.
FTR
