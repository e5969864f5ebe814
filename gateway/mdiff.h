/*
 * gateway/mdiff.h — a line diff between two menu sets, as unified diff
 * text (issue 10 publish: the diff a version stores against the one live
 * before it).
 *
 * What it does: for two file sets (name -> text), every file added,
 * removed or changed gets a unified diff ("--- a/NAME", "+++ b/NAME",
 * hunks "@@ -l,n +l,n @@" with MDIFF_CONTEXT lines of context; an added
 * file is diffed against /dev/null, a removed one to it); files equal in
 * both sets give nothing, files are taken in name order.  The line match
 * is a longest common subsequence after the common head and tail are
 * trimmed; when the rest is too big for that (more than MDIFF_CELLS
 * line pairs) the changed middle is shown as removed then added whole.
 * The output is bounded: past max octets it stops at a line's end with
 * "... diff truncated\n".  A text whose last line has no newline is
 * shown with "\ No newline at end of file".
 *
 * Texts hold no NUL (menu files are YAML text; the result is a C string).
 * Pure: no I/O, no globals; re-entrant.  The returned text is the
 * caller's (free).
 * May call: libc.
 */
#ifndef KYZMAT_GATEWAY_MDIFF_H
#define KYZMAT_GATEWAY_MDIFF_H

#include <stddef.h>

#define MDIFF_CONTEXT 3
#define MDIFF_CELLS (4u << 20)

struct mdiff_file {
    const char *name;
    const char *text;
    size_t len;
};

/*
 * mdiff_sets — the diff from old (no files) to new (nn files) into *out
 * (NUL-terminated, malloc'd; "" when the sets are equal), at most max
 * octets of diff (0: no bound) plus the truncation line.  Names must be
 * unique within a set.  Returns 0, or -1 when out of memory (*out NULL).
 */
int mdiff_sets(const struct mdiff_file *old, size_t no,
               const struct mdiff_file *new_, size_t nn, size_t max,
               char **out);

#endif
