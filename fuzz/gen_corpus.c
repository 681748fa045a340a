/* Write the seed corpora fuzz/corpus/NAME/ from generated valid files:
 *   fuzz_gen_corpus OUT_DIR        (make fuzz-corpus)
 * Everything is deterministic, so regenerating gives the same bytes. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autocircuit.h"
#include "autocircuit/scores.h"
#include "fz.h"
#include "model/checkpoint.h"

static const char *out_dir;

static void die(const char *what) {
    fprintf(stderr, "fuzz_gen_corpus: %s\n", what);
    exit(1);
}

static void mkdir_p(const char *path) {
    if (mkdir(path, 0777) != 0 && errno != EEXIST) die(path);
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) die(path);
    fclose(f);
    buf[len] = 0;
    *n = (size_t)len;
    return buf;
}

/* Write a seed OUT/harness/name. */
static void seed(const char *harness, const char *name, const void *data, size_t n) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", out_dir, harness);
    mkdir_p(path);
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) die(path);
}

static void seed_text(const char *harness, const char *name, const char *text) {
    seed(harness, name, text, strlen(text));
}

/* A seed from a generated file. */
static void seed_file(const char *harness, const char *name, const char *path) {
    size_t n;
    char *buf = slurp(path, &n);
    seed(harness, name, buf, n);
    free(buf);
}

static const char *join(const char *a, const char *b) {
    static char bufs[4][2048];
    static int k = 0;
    char *p = bufs[k++ & 3];
    snprintf(p, sizeof bufs[0], "%s/%s", a, b);
    return p;
}

int main(int argc, char **argv) {
    if (argc != 2) die("usage: fuzz_gen_corpus OUT_DIR");
    out_dir = argv[1];
    mkdir_p(out_dir);

    /* ---- models: safetensors, config.json, the shard index ---- */
    static const char *const kinds[3] = {"gpt2", "attn_only", "llama"};
    for (int k = 0; k < 3; k++) {
        const char *dir = fz_mkdir(kinds[k]);
        if (fz_fixture_model(dir, k)) die("model fixture");
        char name[64];
        snprintf(name, sizeof name, "%s.safetensors", kinds[k]);
        seed_file("safetensors", name, join(dir, "model.safetensors"));
        snprintf(name, sizeof name, "%s.json", kinds[k]);
        seed_file("config", name, join(dir, "config.json"));
    }
    /* F16 and BF16 tensors, and the GPT-2 "transformer." prefix */
    {
        ac_model *m = NULL;
        ac_error err;
        if (ac_model_load(&m, fz_path("gpt2"), &err)) die("reload");
        const char *dir = fz_mkdir("gpt2_f16");
        ac__save_options opt = {AC__ST_F16, NULL, NULL, 1, 1};
        if (ac__model_save_hf(m, dir, &opt, &err)) die("save f16");
        seed_file("safetensors", "gpt2_f16_prefixed.safetensors", join(dir, "model.safetensors"));
        opt.dtype = AC__ST_BF16;
        opt.gpt2_prefix = 0;
        if (ac__model_save_hf(m, dir, &opt, &err)) die("save bf16");
        seed_file("safetensors", "gpt2_bf16.safetensors", join(dir, "model.safetensors"));
        ac_model_free(m);
    }
    /* a hand-written header: metadata, a scalar, an empty tensor */
    {
        static const char header[] =
            "{\"__metadata__\":{\"format\":\"pt\"},\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
            "\"e\":{\"dtype\":\"BF16\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
            "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]},"
            "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}";
        unsigned char buf[512];
        const size_t hl = sizeof header - 1;
        for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
        memcpy(buf + 8, header, hl);
        const unsigned char data[16] = {0, 0, 0x80, 0x3f, 0x00, 0x3c, 0x00, 0xc0, 7, 0, 0, 0, 0, 0, 0, 0};
        memcpy(buf + 8 + hl, data, sizeof data);
        seed("safetensors", "handwritten.safetensors", buf, 8 + hl + sizeof data);
    }
    {
        const char *dir = fz_mkdir("sharded");
        if (fz_fixture_sharded(dir)) die("sharded fixture");
        seed_file("st_index", "index.json", join(dir, "model.safetensors.index.json"));
        seed_file("safetensors", "shard1.safetensors", join(dir, "model-00001-of-00002.safetensors"));
        seed_text("st_index", "metadata.json",
                  "{\"metadata\": {\"total_size\": 4}, \"weight_map\": {\"model.embed_tokens.weight\": "
                  "\"model-00001-of-00002.safetensors\"}}");
    }
    /* configs beyond the fixtures: keys that only change defaults */
    seed_text("config", "gpt2_keys.json",
              "{\"model_type\": \"gpt2\", \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 2, \"n_ctx\": 4,\n"
              " \"n_positions\": null, \"vocab_size\": 7, \"n_inner\": 8, \"activation_function\": \"gelu\",\n"
              " \"layer_norm_epsilon\": 1e-5, \"tie_word_embeddings\": true, \"bos_token_id\": 0,\n"
              " \"eos_token_id\": [0]}\n");
    seed_text("config", "llama_keys.json",
              "{\"model_type\": \"mistral\", \"hidden_size\": 4, \"intermediate_size\": 6,\n"
              " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1,\n"
              " \"head_dim\": 2, \"vocab_size\": 7, \"max_position_embeddings\": 64, \"sliding_window\": 8,\n"
              " \"rms_norm_eps\": 1e-05, \"rope_theta\": 500000.0, \"tie_word_embeddings\": false,\n"
              " \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0,\n"
              " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 16}, \"hidden_act\": \"silu\"}\n");
    seed_text("config", "qwen2.json",
              "{\"model_type\": \"qwen2\", \"hidden_size\": 4, \"intermediate_size\": 6, \"num_hidden_layers\": 1,"
              " \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"vocab_size\": 7,"
              " \"use_sliding_window\": false}\n");

    /* ---- llama2.c checkpoints ---- */
    if (fz_fixture_llama2c(fz_path("v0.bin"), 0) || fz_fixture_llama2c(fz_path("v1.bin"), 1))
        die("llama2.c fixture");
    seed_file("checkpoint", "v0.bin", fz_path("v0.bin"));
    seed_file("checkpoint", "v1.bin", fz_path("v1.bin"));
    {
        /* version 0 with an unshared classifier: negative vocab_size */
        size_t n;
        char *buf = slurp(fz_path("v0.bin"), &n);
        const int32_t neg = -5;
        memcpy(buf + 20, &neg, 4);
        char *big = calloc(1, n + 5 * 4 * 4);
        memcpy(big, buf, n);
        seed("checkpoint", "v0_unshared.bin", big, n + 5 * 4 * 4);
        free(big);
        free(buf);
    }

    /* ---- tokenizers ---- */
    {
        const char *dir = fz_mkdir("gpt2tok");
        if (fz_fixture_gpt2_tokenizer(dir)) die("gpt2 tokenizer fixture");
        size_t nv, nm;
        char *v = slurp(join(dir, "vocab.json"), &nv);
        char *m = slurp(join(dir, "merges.txt"), &nm);
        char *both = malloc(nv + nm + 16);
        memcpy(both, v, nv);
        memcpy(both + nv, FZ_SEP, sizeof FZ_SEP - 1);
        memcpy(both + nv + sizeof FZ_SEP - 1, m, nm);
        seed("gpt2_tokenizer", "fixture", both, nv + nm + sizeof FZ_SEP - 1);
        free(both);
        free(v);
        free(m);
        seed_text("gpt2_tokenizer", "small",
                  "{\"h\": 0, \"e\": 1, \"l\": 2, \"o\": 3, \"he\": 4, \"ll\": 5, \"hell\": 6, \"\\u0120\": 7,"
                  " \"<|endoftext|>\": 8}" FZ_SEP "#version: 0.2\nh e\nl l\nhe ll\n");
    }
    if (fz_fixture_tokenizer_json(fz_path("tokenizer.json"))) die("tokenizer.json fixture");
    seed_file("tokenizer_json", "fixture.json", fz_path("tokenizer.json"));
    seed_text("tokenizer_json", "small.json",
              "{\"added_tokens\": [{\"id\": 8, \"content\": \"<sep>\", \"lstrip\": true, \"rstrip\": true,"
              " \"special\": true}],\n"
              " \"normalizer\": {\"type\": \"NFC\"},\n"
              " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"use_regex\": true},\n"
              " \"decoder\": {\"type\": \"ByteLevel\"},\n"
              " \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"ignore_merges\": true,\n"
              "  \"vocab\": {\"h\": 0, \"e\": 1, \"l\": 2, \"o\": 3, \"\\u0120\": 4, \"he\": 5, \"ll\": 6,"
              " \"<unk>\": 7},\n"
              "  \"merges\": [\"h e\", [\"l\", \"l\"]]}}\n");
    if (fz_fixture_llama2c_tokenizer(fz_path("tok.bin"))) die("llama2.c tokenizer fixture");
    seed_file("llama2c_tokenizer", "fixture.bin", fz_path("tok.bin"));

    /* ---- datasets ---- */
    seed_text("dataset", "ids.json",
              "{\"seq_labels\": [\"A\", \"B\", \"C\"], \"word_idxs\": {\"end\": 2},\n"
              " \"prompts\": [\n"
              "  {\"clean\": [2, 3, 4], \"corrupt\": [2, 5, 4], \"answers\": [6], \"wrong_answers\": [7]},\n"
              "  {\"clean\": [3, 3, 4], \"corrupt\": [3, 8, 4], \"answers\": [6, 9], \"wrong_answers\": [7]},\n"
              "  {\"clean\": [4, 3], \"corrupt\": [4, 9], \"answers\": [10], \"wrong_answers\": []},\n"
              "  {\"clean\": [5, 3, 4], \"corrupt\": [5, 2, 4], \"answers\": [11], \"wrong_answers\": [7, 12]}\n"
              " ]}\n");
    seed_text("dataset", "text.json",
              "{\"prompts\": [\n"
              "  {\"clean\": \"hello world\", \"corrupt\": \"hello hello\", \"answers\": [\" Mary\"],"
              " \"wrong_answers\": [\" John\"]},\n"
              "  {\"clean\": \"the world\", \"corrupt\": \"the hello\", \"answers\": [\" John\", 270],"
              " \"wrong_answers\": [\" Mary\"]},\n"
              "  {\"clean\": \"A B\", \"corrupt\": \"B A\", \"answers\": [\" A\"], \"wrong_answers\": [\" B\"]}\n"
              " ]}\n");
    seed_text("dataset", "mixed.json",
              "{\"prompts\": [{\"clean\": [104, 101], \"corrupt\": \"he\", \"answers\": [\" the\"],"
              " \"wrong_answers\": [5]}, {\"clean\": \"\\u00e9t\\u00e9\", \"corrupt\": \"et\\u00e9\","
              " \"answers\": [1], \"wrong_answers\": [2]}]}\n");

    /* ---- encode ---- */
    seed_text("encode", "ascii", "Hello world, the quick brown fox. 12345 'll 're\n\tend");
    seed_text("encode", "utf8", "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE4\xB8\xAD\xE6\x96\x87");
    seed("encode", "bytes", "\xFF\xFE\x00\x80\xC0\xAF\xED\xA0\x80 x", 11);
    seed_text("encode", "special", "a<|endoftext|>b<s></s>  hello   world ");
    /* ---- scores, ground-truth and curve files ---- */
    {
        static const char *const names[5] = {"gpt2", "combined_qkv", "positions", "residual", "llama_gqa"};
        ac_error err;
        for (int i = 0; i < 5; i++) {
            const ac_graph *g = fz_scores_graph(i);
            float *s = malloc(g->n_edges * sizeof *s);
            uint8_t *in = calloc(g->n_edges, 1);
            if (!s || !in) die("out of memory");
            for (size_t e = 0; e < g->n_edges; e++) {
                s[e] = (float)((int)(e * 7 % 19) - 9) / 8.0f;
                in[e] = e % 5 == 1;
            }
            if (i == 0) {
                s[0] = INFINITY;
                s[1] = -INFINITY;
                s[2] = -0.0f;
            }
            static const char *const labels[3] = {"When", " Mary", " and"};
            static const double taus[2] = {0.01, INFINITY};
            ac_scores_settings st = {.algo = i == 0 ? "acdc" : "eap", .model = "m", .data = "d.json",
                                     .ablation = "resample", .steps = i == 1 ? 5 : 0,
                                     .taus = i == 0 ? taus : NULL, .n_taus = i == 0 ? 2 : 0, .split = "train",
                                     .n_prompts = 6, .seed = 42, .seconds = -1,
                                     .seq_labels = i == 2 ? labels : NULL, .n_seq_labels = i == 2 ? 3 : 0,
                                     .extra_json = i == 2 ? "{\"positions\": true}" : NULL};
            char name[64];
            snprintf(name, sizeof name, "%s.json", names[i]);
            if (ac_scores_write(fz_path(name), g, s, &st, &err)) die(err.msg);
            seed_file("scores", name, fz_path(name));
            snprintf(name, sizeof name, "%s_truth.json", names[i]);
            if (ac_ground_truth_write(fz_path(name), g, in, &err)) die(err.msg);
            if (i != 1 && i != 3) seed_file("scores", name, fz_path(name));
            free(s);
            free(in);
        }
        /* hand-written: no "graph" object, strings for infinities, positions inferred */
        seed_text("scores", "handwritten.json",
                  "{\"edges\": [{\"src\": \"Resid Start\", \"dest\": \"A0.1.Q\", \"pos\": 1, \"score\": \"-inf\"},\n"
                  " {\"src\": \"A0.0\", \"dest\": \"MLP 1\", \"pos\": 0, \"score\": 1e-3},\n"
                  " {\"src\": \"MLP 0\", \"dest\": \"Resid End\", \"pos\": 1, \"score\": \"+inf\"},\n"
                  " {\"src\": \"A1.1\", \"dest\": \"Resid End\", \"pos\": 0, \"score\": -2}],\n"
                  " \"settings\": {\"seq_labels\": [\"a\", \"b\"], \"algo\": \"ig\"}}\n");
        seed_text("scores", "truth_no_graph.json",
                  "{\"format\": \"autocircuit-ground-truth\", \"version\": 1, \"edges\": [\n"
                  " {\"src\": \"A0.1\", \"dest\": \"A1.0.K\"}, {\"src\": \"Resid Start\", \"dest\": \"A0.0.V\"}]}\n");

        ac_eval_point pts[4];
        for (int i = 0; i < 4; i++) {
            ac_eval_point *q = &pts[i];
            q->requested = (size_t)(i * 10);
            q->edges = q->requested + (i == 2);
            q->kl = 1.0 / (1 + i);
            q->logit_diff = 0.5 * i - 0.25;
            q->logit_diff_percent = 20.0 * i;
            q->answer_logit = 3.0 - i;
            q->answer_prob = 0.1 * (i + 1);
            q->answer_logprob = log(q->answer_prob);
            q->correct_percent = i == 1 ? NAN : 25.0 * i;
            q->correct_beats_wrong_percent = 50.0;
        }
        const ac_point roc[3] = {{0, 0}, {0.25, 0.75}, {1, 1}};
        ac_curve c = {.model = "m", .data = "d.json", .scores_path = "s.json", .ablation = "resample",
                      .patch = "edges", .split = "test", .n_prompts = 6, .n_edges_total = 46, .points = pts,
                      .n_points = 4, .clean_logit_diff = 1.5, .corrupt_logit_diff = -0.5,
                      .auc_logit_diff = 12.0, .auc_logit_diff_log = NAN, .auc_kl = INFINITY,
                      .ground_truth = "t.json", .roc = roc, .n_roc = 3, .roc_auc = 0.8125,
                      .ground_truth_edges = 4, .seconds = 1.25, .extra_json = "{\"signed\": false}"};
        if (ac_curve_write(fz_path("curve.json"), &c, &err)) die(err.msg);
        seed_file("curve", "roc.json", fz_path("curve.json"));
        c.n_roc = 0;
        c.seconds = -1;
        c.extra_json = NULL;
        if (ac_curve_write(fz_path("curve.json"), &c, &err)) die(err.msg);
        seed_file("curve", "plain.json", fz_path("curve.json"));
        /* knockout files: a learned knockout of a third of the edges */
        {
            const ac_graph *g = fz_scores_graph(0);
            uint8_t *circ = calloc(g->n_edges, 1);
            float *ks = calloc(g->n_edges, sizeof *ks);
            if (!circ || !ks) die("out of memory");
            for (size_t e = 0; e < g->n_edges; e += 3) {
                circ[e] = 1;
                ks[e] = e % 2 ? 1.5f : -1.5f;
            }
            ac_knockout_opts ko;
            ac_knockout_opts_default(&ko);
            const ac_knockout_result learned = {16, 4, 0.25, 0.5, 2.0, 1.5, 0.5, 0.25};
            const ac_knockout_result empty = {16, 0, 0.25, 0.25, 2.0, 1.5, 2.0, 1.5};
            const double loss[3] = {1.0, 0.5, 0.25};
            ac_knockout_doc kd = {.model = "m", .data = "d.json", .scores_path = "s.json", .algo = "eap",
                                  .split = "train", .n_prompts = 6, .opts = &ko, .requested_size = 16, .g = g,
                                  .in_circuit = circ, .scores = ks, .learned = &learned, .empty = &empty,
                                  .loss = loss, .n_loss = 3, .seconds = 0.5};
            if (ac_knockout_write(fz_path("ko.json"), &kd, &err)) die(err.msg);
            seed_file("knockout", "learned.json", fz_path("ko.json"));
            kd.requested_size = 0;
            kd.algo = NULL;
            kd.n_loss = 0;
            kd.seconds = -1;
            if (ac_knockout_write(fz_path("ko.json"), &kd, &err)) die(err.msg);
            seed_file("knockout", "ground_truth.json", fz_path("ko.json"));
            free(circ);
            free(ks);
        }
        seed_text("curve", "handwritten.json",
                  "{\"points\": [{\"edges\": 0, \"kl\": \"inf\", \"logit_diff\": null},\n"
                  " {\"edges\": 3, \"requested\": 2, \"kl\": 1e308, \"logit_diff\": -1e-300, \"answer_prob\": \"nan\"},\n"
                  " {\"edges\": 3, \"kl\": 0, \"logit_diff\": \"-inf\"}],\n"
                  " \"roc\": null, \"auc\": {\"logit_diff\": null}, \"n_edges\": 46}\n");
    }
    return 0;
}
