/*
 * smpp/sim/jsonw.h — a small writer of compact JSON for the control port's
 * answers ("stats", "ussd-log"), so the simulator needs no JSON library.
 *
 * Output is byte for byte what jansson's json_dumps(JSON_COMPACT |
 * JSON_PRESERVE_ORDER) printed before: members in call order, no spaces,
 * \" \\ \b \f \n \r \t and \u00XX escapes, other UTF-8 as is.  As with
 * jansson's setters, a member whose key is not valid UTF-8, or whose string
 * value is NULL or not valid UTF-8, is left out (a container with such a
 * key: with everything inside it).
 *
 * Usage: sim_json_init; sim_json_obj(j, NULL) ... members ... sim_json_end;
 * sim_json_done returns the text.  A member's key is NULL inside arrays.
 *
 * Owns: its buffer until sim_json_done hands it over.  May call:
 * base/utf8, libc.  Pure: no I/O.
 */
#ifndef KYZMAT_SIM_JSONW_H
#define KYZMAT_SIM_JSONW_H

#include <stddef.h>

#define SIM_JSON_DEPTH 8

struct sim_json {
    char *buf;
    size_t len, cap;
    int oom;                          /* an allocation failed: done gives NULL */
    unsigned depth;                   /* containers open */
    unsigned skip;                    /* > 0: inside a container left out */
    unsigned char more[SIM_JSON_DEPTH]; /* container at depth d has a member */
    char close[SIM_JSON_DEPTH];       /* '}' or ']' for the container at d */
};

void sim_json_init(struct sim_json *j);
void sim_json_obj(struct sim_json *j, const char *key);
void sim_json_arr(struct sim_json *j, const char *key);
void sim_json_end(struct sim_json *j);
void sim_json_int(struct sim_json *j, const char *key, long long v);
void sim_json_str(struct sim_json *j, const char *key, const char *s);
void sim_json_bool(struct sim_json *j, const char *key, int v);
void sim_json_null(struct sim_json *j, const char *key);
/* The text (malloc'd, the caller frees), or NULL when out of memory or
 * the containers do not balance. */
char *sim_json_done(struct sim_json *j);

#endif
