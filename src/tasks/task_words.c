/* Built-in word lists of the task generators. Every word is one GPT-2 token when used
 * with a leading space (tests/test_tasks.c checks this with the GPT-2 tokenizer);
 * generators filter them again with whatever tokenizer they are given. */
#include <string.h>

#include "tasks/task_internal.h"

/* IOI: common English first names. */
static const char *const names[] = {
    "Michael", "Christopher", "Jessica", "Matthew", "Ashley", "Jennifer", "Joshua", "Amanda",
    "Daniel", "David", "James", "Robert", "John", "Joseph", "Andrew", "Ryan", "Brandon",
    "Jason", "Justin", "Sarah", "William", "Jonathan", "Stephanie", "Brian", "Nicole",
    "Nicholas", "Anthony", "Heather", "Eric", "Elizabeth", "Adam", "Megan", "Melissa",
    "Kevin", "Steven", "Thomas", "Timothy", "Christina", "Kyle", "Rachel", "Laura", "Lauren",
    "Amber", "Brittany", "Danielle", "Richard", "Kimberly", "Jeffrey", "Amy", "Crystal",
    "Michelle", "Tiffany", "Jeremy", "Benjamin", "Mark", "Emily", "Aaron", "Charles",
    "Rebecca", "Jacob", "Stephen", "Patrick", "Sean", "Erin", "Jamie", "Kelly", "Samantha",
    "Nathan", "Sara", "Dustin", "Paul", "Angela", "Tyler", "Scott", "Katherine", "Andrea",
    "Gregory", "Erica", "Mary", "Travis", "Lisa", "Kenneth", "Bryan", "Lindsey", "Kristen",
    "Jose", "Alexander", "Jesse", "Katie", "Lindsay", "Shannon", "Vanessa", "Courtney",
    "Christine", "Alicia", "Cody", "Allison", "Bradley", "Samuel", "George", "Peter",
    "Henry", "Frank", "Alice", "Anna", "Emma", "Grace", "Jack", "Kate", "Lucy", "Max",
    "Simon", "Victoria", "Martin", "Luke", "Ian", "Tom", "Jane", "Joe", "Sam",
};

/* IOI: places ("went to the [PLACE]") and objects ("gave a [OBJECT] to"). */
static const char *const places[] = {
    "store", "garden", "restaurant", "school", "hospital", "office", "house", "station",
    "park", "library", "market", "beach", "church", "airport", "museum", "hotel", "bank",
    "zoo", "theater", "cafe", "mall", "gym", "farm", "lake", "castle", "shop", "kitchen",
};

static const char *const objects[] = {
    "ring", "kiss", "bone", "basketball", "computer", "necklace", "drink", "snack", "book",
    "gift", "letter", "ball", "bag", "hat", "pen", "key", "phone", "watch", "card", "box",
    "cake", "flower", "bottle", "camera", "ticket", "toy", "cup", "coin", "banana",
};

/* Greater-than: things that last ("The [NOUN] lasted from the year ..."). */
static const char *const nouns[] = {
    "war", "reign", "siege", "dynasty", "empire", "kingdom", "famine", "plague", "drought",
    "rebellion", "revolt", "crisis", "conflict", "campaign", "journey", "voyage",
    "expedition", "trial", "treaty", "alliance", "marriage", "friendship", "rivalry", "feud",
    "dispute", "strike", "occupation", "invasion", "crusade", "festival", "tour", "program",
    "project", "study", "tradition", "practice", "epidemic", "outbreak", "recession", "era",
    "period", "regime", "rule", "administration", "partnership", "relationship",
    "construction", "expansion", "decline", "growth", "investigation", "negotiation",
    "operation", "pilgrimage", "quest", "trip", "affair", "agreement", "tenure", "presidency",
    "ministry", "career", "contract", "custody", "employment", "illness", "imprisonment",
    "insurgency", "riot", "sanctions", "slump", "stint", "unemployment", "warfare",
};

/* Docstring: parameter names (also used as function names). */
static const char *const params[] = {
    "load", "size", "files", "last", "page", "names", "first", "read", "project", "target",
    "new", "image", "update", "instance", "required", "run", "path", "date", "key", "old",
    "parent", "obj", "config", "filename", "format", "order", "number", "state", "code",
    "port", "token", "settings", "data", "options", "current", "row", "item", "content",
    "shape", "option", "user", "request", "title", "string", "field", "test", "match",
    "error", "value", "values", "name", "node", "text", "label", "source", "result", "query",
    "mode", "count", "index", "length", "width", "height", "color", "style", "type", "url",
    "server", "client", "session", "context", "model", "module", "event", "status",
    "version", "table", "line", "file", "folder", "input", "output", "start", "end", "step",
    "limit", "offset", "timeout", "level", "log", "callback", "handler", "parser", "buffer",
    "block", "group", "tag", "prefix", "suffix", "weight", "scale", "sample", "batch",
};

/* Docstring: description words (the docstring's summary line and parameter
 * descriptions); none of them is a parameter name. */
static const char *const descriptions[] = {
    "oil", "column", "piece", "crime", "population", "unit", "dark", "bone", "paper",
    "selection", "sky", "sector", "gap", "tree", "detail", "mine", "focus", "fall", "theme",
    "currency", "document", "range", "stairs", "stage", "answer", "cloud", "employment",
    "return", "performance", "export", "shift", "setting", "band", "faith", "bed", "pace",
    "doctor", "success", "team", "light", "wheel", "spring", "mill", "quality", "picture",
    "ticket", "drop", "environment", "attack", "committee", "chip", "pot", "inch", "scope",
    "profit", "support", "street", "hat", "connection", "tip", "president", "duty", "volume",
    "dollar", "technology", "park", "score", "strength", "belt", "ship", "capacity", "album",
    "second",
};

#define LIST(name) {#name, name, sizeof name / sizeof name[0]}

static const struct {
    const char *name;
    const char *const *words;
    size_t n;
} lists[] = {LIST(names), LIST(places), LIST(objects), LIST(nouns), LIST(params), LIST(descriptions)};

const char *const *ac_task_word_list(const char *list, size_t *n) {
    for (size_t i = 0; list && i < sizeof lists / sizeof lists[0]; i++)
        if (!strcmp(list, lists[i].name)) {
            if (n) *n = lists[i].n;
            return lists[i].words;
        }
    if (n) *n = 0;
    return NULL;
}
