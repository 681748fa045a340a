/* The model zoo: registry, prompt generation, ground truths and the files of a zoo
 * model (checkpoint, dataset, ground truth, model card). See include/autocircuit/zoo.h
 * and docs/zoo.md. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "autocircuit/engine.h"
#include "util/atomic_file.h"
#include "zoo/zoo_internal.h"

static const ac__zoo_spec *const specs[] = {&ac__zoo_induction, &ac__zoo_lookup};
enum { N_SPECS = (int)(sizeof specs / sizeof specs[0]) };
static const char *const names[] = {"induction", "lookup", NULL};
_Static_assert(sizeof names / sizeof names[0] == N_SPECS + 1, "zoo: names and specs disagree");

const char *const *ac_zoo_names(void) { return names; }

static const ac__zoo_spec *find(const char *name) {
    for (int i = 0; name && i < N_SPECS; i++)
        if (!strcmp(specs[i]->name, name)) return specs[i];
    return NULL;
}

static int unknown(const char *name, ac_error *err) {
    char known[256] = "";
    for (int i = 0; i < N_SPECS; i++) {
        if (i) strncat(known, ", ", sizeof known - strlen(known) - 1);
        strncat(known, specs[i]->name, sizeof known - strlen(known) - 1);
    }
    return ac_error_set(err, AC_ERR_ARG, NULL, "unknown zoo model '%s' (known: %s)", name ? name : "(null)", known);
}

const char *ac_zoo_summary(const char *name) {
    const ac__zoo_spec *s = find(name);
    return s ? s->summary : NULL;
}

/* ---- random numbers ----------------------------------------------------------------- */

uint64_t ac__zoo_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int ac__zoo_below(uint64_t *s, int n) { return (int)(ac__zoo_next(s) % (uint64_t)n); }

void ac__zoo_shuffle(uint64_t *s, int32_t *v, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = ac__zoo_below(s, i + 1);
        int32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* ---- model, prompts, ground truth ---------------------------------------------------- */

static int build_model(const ac__zoo_spec *s, ac_model **out, ac_error *err) {
    ac_config c;
    s->config(&c);
    int rc = ac_model_create(out, &c, err);
    if (rc) return rc;
    s->weights(*out);
    return AC_OK;
}

int ac_zoo_model(const char *name, ac_model **out, ac_error *err) {
    *out = NULL;
    const ac__zoo_spec *s = find(name);
    if (!s) return unknown(name, err);
    return build_model(s, out, err);
}

void ac_zoo_prompts_free(ac_zoo_prompts *p) {
    if (!p) return;
    ac_free(p->clean);
    ac_free(p->corrupt);
    ac_free(p->answer);
    ac_free(p->wrong);
    ac_free(p);
}

static int check_count(size_t n, ac_error *err) {
    if (n == 0 || n > AC_ZOO_MAX_PROMPTS)
        return ac_error_set(err, AC_ERR_ARG, NULL, "zoo: the number of prompts must be in 1..%d, got %zu",
                            AC_ZOO_MAX_PROMPTS, n);
    return AC_OK;
}

static int make_prompts(const ac__zoo_spec *s, size_t n, uint64_t seed, ac_zoo_prompts **out, ac_error *err) {
    *out = NULL;
    int rc = check_count(n, err);
    if (rc) return rc;
    ac_zoo_prompts *p = ac_calloc(1, sizeof *p);
    const size_t T = (size_t)s->seq_len;
    if (p) {
        p->n = n;
        p->seq_len = s->seq_len;
        p->clean = ac_calloc(n * T, sizeof *p->clean);
        p->corrupt = ac_calloc(n * T, sizeof *p->corrupt);
        p->answer = ac_calloc(n, sizeof *p->answer);
        p->wrong = ac_calloc(n, sizeof *p->wrong);
    }
    if (!p || !p->clean || !p->corrupt || !p->answer || !p->wrong) {
        ac_zoo_prompts_free(p);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory generating %zu prompts", n);
    }
    uint64_t rng = seed;
    for (size_t i = 0; i < n; i++) {
        if (s->prompt(&rng, p->clean + i * T, p->corrupt + i * T, p->answer + i, p->wrong + i)) {
            ac_zoo_prompts_free(p);
            return ac_error_set(err, AC_ERR_INTERNAL, NULL, "zoo %s: prompt %zu: generator constraints not met",
                                s->name, i);
        }
    }
    *out = p;
    return AC_OK;
}

int ac_zoo_prompts_make(const char *name, size_t n, uint64_t seed, ac_zoo_prompts **out, ac_error *err) {
    *out = NULL;
    const ac__zoo_spec *s = find(name);
    if (!s) return unknown(name, err);
    return make_prompts(s, n, seed, out, err);
}

/* With combined Q/K/V inputs an edge into A{l}.{h}.Q, .K or .V becomes the edge into
 * A{l}.{h}: patching the combined input patches all three, and the ground truth's
 * arguments carry over (an edge is in the circuit when any of its parts is). */
static int ground_truth(const ac__zoo_spec *s, const ac_graph *g, uint8_t *in_circuit, size_t *n_in,
                        ac_error *err) {
    if (g->seq_len > 0)
        return ac_error_set(err, AC_ERR_UNSUPPORTED, NULL,
                            "zoo %s: the ground truth is defined on graphs without token positions", s->name);
    ac_config c;
    s->config(&c);
    if (g->n_layer != c.n_layer || g->n_head != c.n_head || g->n_kv_head != c.n_kv_head ||
        (g->mlp_src[0] >= 0) != !c.attn_only)
        return ac_error_set(err, AC_ERR_SHAPE, NULL, "zoo %s: the graph belongs to another model", s->name);
    memset(in_circuit, 0, g->n_edges);
    for (const char *const *e = s->ground_truth; *e; e++) {
        char name[96];
        snprintf(name, sizeof name, "%s", *e);
        size_t len = strlen(name);
        if (!g->separate_qkv && len > 2 && name[len - 2] == '.' && strchr("QKV", name[len - 1]))
            name[len - 2] = 0;
        size_t idx = ac_graph_find_edge(g, name, 0);
        if (idx == (size_t)-1)
            return ac_error_set(err, AC_ERR_SHAPE, NULL, "zoo %s: the graph has no edge %s", s->name, name);
        in_circuit[idx] = 1;
    }
    size_t k = 0;
    for (size_t e = 0; e < g->n_edges; e++) k += in_circuit[e];
    if (n_in) *n_in = k;
    return AC_OK;
}

int ac_zoo_ground_truth(const char *name, const ac_graph *g, uint8_t *in_circuit, size_t *n_in,
                        ac_error *err) {
    const ac__zoo_spec *s = find(name);
    if (!s) return unknown(name, err);
    return ground_truth(s, g, in_circuit, n_in, err);
}

/* ---- files --------------------------------------------------------------------------- */


static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = ac_malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void put_ids(FILE *f, const int32_t *ids, size_t n) {
    fputc('[', f);
    for (size_t i = 0; i < n; i++) fprintf(f, i ? ", %" PRId32 : "%" PRId32, ids[i]);
    fputc(']', f);
}

static int write_dataset(const ac__zoo_spec *s, const ac_zoo_prompts *p, uint64_t seed, const char *path,
                         ac_error *err) {
    ac__afile af;
    int rc = ac__afile_open(&af, path, err);
    if (rc) return rc;
    FILE *f = af.f;
    const size_t T = (size_t)p->seq_len;
    fprintf(f,
            "{\n  \"description\": \"autocircuit zoo model '%s': %zu prompt pairs from seed %" PRIu64
            ". Token ids; every prompt already starts with BOS (id 0), so load without prepending BOS "
            "(--no-bos).\",\n",
            s->name, p->n, seed);
    fputs("  \"seq_labels\": [", f);
    for (int t = 0; t < s->seq_len; t++) fprintf(f, t ? ", \"%s\"" : "\"%s\"", s->seq_labels[t]);
    fputs("],\n  \"prompts\": [\n", f);
    for (size_t i = 0; i < p->n; i++) {
        fputs("    {\"clean\": ", f);
        put_ids(f, p->clean + i * T, T);
        fputs(", \"corrupt\": ", f);
        put_ids(f, p->corrupt + i * T, T);
        fprintf(f, ", \"answers\": [%" PRId32 "], \"wrong_answers\": [%" PRId32 "]}%s\n", p->answer[i], p->wrong[i],
                i + 1 < p->n ? "," : "");
    }
    fputs("  ]\n}\n", f);
    return ac__afile_commit(&af, err);
}

/* The ground-truth file, in the layout of ac_ground_truth_write (scores.h): the circuit's
 * edges in graph edge order. */
static int write_ground_truth(const ac_graph *g, const uint8_t *in, const char *path, ac_error *err) {
    size_t n = 0;
    for (size_t e = 0; e < g->n_edges; e++) n += in[e] != 0;
    ac__afile af;
    int rc = ac__afile_open(&af, path, err);
    if (rc) return rc;
    FILE *f = af.f;
    fputs("{\n  \"format\": \"autocircuit-ground-truth\",\n  \"version\": 1,\n", f);
    fprintf(f, "  \"graph\": {\"separate_qkv\": true, \"seq_len\": null, \"n_edges\": %zu},\n  \"edges\": [", n);
    size_t k = 0;
    for (size_t e = 0; e < g->n_edges; e++) {
        if (!in[e]) continue;
        int pos, d, src;
        ac_graph_edge_at(g, e, &pos, &d, &src);
        fprintf(f, "%s    {\"src\": \"%s\", \"dest\": \"%s\", \"pos\": null}", k++ ? ",\n" : "\n",
                g->srcs[src].name, g->dests[d].name);
    }
    fputs(k ? "\n  ]\n}\n" : "]\n}\n", f);
    return ac__afile_commit(&af, err);
}

/* Accuracy and mean logit differences of the full model on the prompts. */
typedef struct {
    size_t correct;
    double clean_diff, corrupt_diff;
} zoo_stats;

static int measure(const ac_model *m, const ac_zoo_prompts *p, zoo_stats *st, ac_error *err) {
    memset(st, 0, sizeof *st);
    const int T = p->seq_len, Bmax = 64;
    const int V = ac_model_config(m)->vocab_size;
    ac_run *r;
    int rc = ac_run_create(&r, m, NULL, Bmax, T, err);
    if (rc) return rc;
    float *logits = ac_malloc((size_t)Bmax * (size_t)V * sizeof *logits);
    if (!logits) {
        ac_run_free(r);
        return ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    }
    for (size_t i0 = 0; i0 < p->n && !rc; i0 += (size_t)Bmax) {
        const int B = (int)(p->n - i0 < (size_t)Bmax ? p->n - i0 : (size_t)Bmax);
        for (int side = 0; side < 2 && !rc; side++) {
            const int32_t *ids = (side ? p->corrupt : p->clean) + i0 * (size_t)T;
            ac_tokens in = {.B = B, .T = T, .ids = ids, .mask = NULL};
            ac_forward_opts fo = {.logits_mode = AC_LOGITS_LAST, .logits = logits};
            if ((rc = ac_run_forward(r, &in, &fo, err))) break;
            for (int b = 0; b < B; b++) {
                const float *lg = logits + (size_t)b * (size_t)V;
                const size_t i = i0 + (size_t)b;
                const double diff = (double)lg[p->answer[i]] - (double)lg[p->wrong[i]];
                if (side) {
                    st->corrupt_diff += diff;
                    continue;
                }
                st->clean_diff += diff;
                int best = 0;
                for (int v = 1; v < V; v++)
                    if (lg[v] > lg[best]) best = v;
                st->correct += best == p->answer[i];
            }
        }
    }
    st->clean_diff /= (double)p->n;
    st->corrupt_diff /= (double)p->n;
    ac_free(logits);
    ac_run_free(r);
    return rc;
}

static const char *arch_line(const ac_config *c, char *buf, size_t n) {
    char mlp[64] = "attention-only";
    if (!c->attn_only)
        snprintf(mlp, sizeof mlp, "%s MLPs of width %d", c->act == AC_ACT_RELU ? "ReLU" : "GELU", c->d_mlp);
    snprintf(buf, n,
             "GPT-2 layout without LayerNorm (`\"layer_norm\": false`), %s, %d layers x %d heads, width %d, "
             "head width %d, vocabulary %d, context %d, learned one-hot positions, untied unembedding",
             mlp, c->n_layer, c->n_head, c->d_model, c->d_head, c->vocab_size, c->n_ctx);
    return buf;
}

static int write_card(const ac__zoo_spec *s, const ac_model *m, const ac_graph *g, const uint8_t *in,
                      const ac_zoo_prompts *p, uint64_t seed, const zoo_stats *st, const char *path,
                      ac_error *err) {
    const ac_config *c = ac_model_config(m);
    ac__afile af;
    int rc = ac__afile_open(&af, path, err);
    if (rc) return rc;
    FILE *f = af.f;
    char arch[512];
    size_t n_gt = 0;
    for (size_t e = 0; e < g->n_edges; e++) n_gt += in[e] != 0;
    const size_t params = ac_config_param_count(c);
    const int defaults = p->n == AC_ZOO_DEFAULT_PROMPTS && seed == AC_ZOO_DEFAULT_SEED;

    fprintf(f, "# Zoo model `%s`\n\n", s->name);
    fprintf(f, "%s.\n\n", s->summary);
    fprintf(f,
            "A compiled model: its weights are set by construction (no training, no random\n"
            "numbers) so that the circuit doing the task is known exactly. Generated by\n"
            "`autocircuit zoo %s`; regenerating gives bit-identical files. Design and proofs:\n"
            "`docs/zoo.md`.\n\n",
            s->name);
    fputs("## Files\n\n| file | content |\n| --- | --- |\n", f);
    fputs("| `config.json`, `model.safetensors` | the model: Hugging Face GPT-2 layout, F32 |\n", f);
    fputs("| `ground_truth.json` | the ground-truth circuit (format `autocircuit-ground-truth`) |\n", f);
    fprintf(f,
            "| `dataset.json` | %zu prompt pairs, seed %" PRIu64 " (shipped as `datasets/%s.json`) |\n"
            "| `README.md` | this card |\n\n",
            p->n, seed, s->name);
    fprintf(f, "## Architecture\n\n%s; %zu parameters (%zu KB of F32).\n", arch_line(c, arch, sizeof arch), params,
            (params * 4 + 1023) / 1024);
    fprintf(f,
            "Circuit graph (separate Q/K/V, no positions): %d sources, %d destinations, %zu edges.\n"
            "Biases are zero except where the construction says otherwise.\n\n",
            g->n_src, g->n_dest, g->n_edges);
    fprintf(f, "## Task\n\n%s\n", s->task_md);
    fprintf(f,
            "Every prompt has %d tokens and starts with BOS: load the dataset without prepending\n"
            "BOS (`--no-bos`; `ac_dataset_options.prepend_bos = 0`).\n\n",
            s->seq_len);
    fprintf(f,
            "## Accuracy\n\n"
            "On the %zu prompt pairs of `dataset.json`: the answer is the top token at the last\n"
            "position for %zu of %zu clean prompts (%.1f%%). Mean logit difference logit(answer) -\n"
            "logit(wrong answer): %.2f on clean prompts, %.2f on corrupt prompts.\n\n",
            p->n, st->correct, p->n, 100.0 * (double)st->correct / (double)p->n, st->clean_diff, st->corrupt_diff);
    fprintf(f,
            "## Ground truth\n\n"
            "%zu of the %zu edges: exactly the edges whose exact-patching effect on the logit\n"
            "difference at the last position, under resample ablation, is non-zero (every other\n"
            "edge's effect is exactly 0). Tree patching with these edges alone (everything else\n"
            "resample-ablated) reproduces the full model exactly; ablating just these edges turns\n"
            "the prediction into the corrupt prompt's answer.\n\n",
            n_gt, g->n_edges);
    for (size_t e = 0; e < g->n_edges; e++) {
        if (!in[e]) continue;
        char name[96];
        fprintf(f, "- `%s`\n", ac_graph_edge_name(g, e, name, sizeof name));
    }
    fprintf(f, "\n## How it works\n\n%s\n", s->construction_md);
    fprintf(f,
            "## Use\n\n"
            "From the repository root (for a copy written with `--out DIR`, use `DIR/model` and\n"
            "`DIR/dataset.json`):\n\n"
            "```\n"
            "autocircuit info --model models/%s\n"
            "autocircuit data --model models/%s --data datasets/%s.json --no-bos\n"
            "```\n\n",
            s->name, s->name, s->name);
    fputs("## Regenerate\n\n```\nscripts/make-zoo.sh   # every zoo model into models/ and datasets/\n", f);
    if (defaults)
        fprintf(f, "autocircuit zoo %s --out DIR   # this model into DIR\n```\n", s->name);
    else
        fprintf(f, "autocircuit zoo %s --out DIR --n %zu --seed %" PRIu64 "   # this copy into DIR\n```\n",
                s->name, p->n, seed);
    return ac__afile_commit(&af, err);
}

int ac_zoo_write(const char *name, const char *dir, size_t n_prompts, uint64_t seed, ac_error *err) {
    const ac__zoo_spec *s = find(name);
    if (!s) return unknown(name, err);
    int rc = check_count(n_prompts, err);
    if (rc) return rc;
    if (!dir || !*dir) return ac_error_set(err, AC_ERR_ARG, NULL, "zoo: no output directory");
    ac_model *m = NULL;
    ac_graph *g = NULL;
    ac_zoo_prompts *p = NULL;
    uint8_t *in = NULL;
    char *model_dir = join(dir, "model"), *data = join(dir, "dataset.json"),
         *truth = join(dir, "ground_truth.json"), *card = join(dir, "README.md");
    if (!model_dir || !data || !truth || !card) rc = ac_error_set(err, AC_ERR_NOMEM, dir, "out of memory");
    if (!rc) rc = ac__make_dirs(dir, err);
    if (!rc) rc = build_model(s, &m, err);
    if (!rc) {
        ac_graph_opts go = ac_graph_default_opts();
        rc = ac_graph_build(&g, ac_model_config(m), &go, err);
    }
    if (!rc && !(in = ac_calloc(g->n_edges, 1))) rc = ac_error_set(err, AC_ERR_NOMEM, NULL, "out of memory");
    if (!rc) rc = ground_truth(s, g, in, NULL, err);
    if (!rc) rc = make_prompts(s, n_prompts, seed, &p, err);
    zoo_stats st;
    if (!rc) rc = measure(m, p, &st, err);
    if (!rc) rc = ac_model_save(m, model_dir, err);
    if (!rc) rc = write_dataset(s, p, seed, data, err);
    if (!rc) rc = write_ground_truth(g, in, truth, err);
    if (!rc) rc = write_card(s, m, g, in, p, seed, &st, card, err);
    ac_free(model_dir);
    ac_free(data);
    ac_free(truth);
    ac_free(card);
    ac_free(in);
    ac_zoo_prompts_free(p);
    ac_graph_free(g);
    ac_model_free(m);
    return rc;
}
